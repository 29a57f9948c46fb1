package capabilities

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MainSubject is how capabilities.txt names the main module.
const MainSubject = "main"

// Report is a declaration held against what the code can do.
type Report struct {
	// Declared is the capabilities.txt the code was held against.
	Declared string `json:"declared"`
	// Violations are capabilities a module's own code exercises that the
	// declaration does not grant.
	Violations []Violation `json:"violations"`
	// Warnings are capabilities allowed only by "unlisted warn".
	Warnings []Violation `json:"warnings,omitempty"`
	// Unused are grants that no module's code needs.
	Unused []Unused `json:"unused,omitempty"`
	// StaticMisses are, when a run-time profile was checked with the
	// code, capabilities the trace saw a module exercise that the static
	// analysis does not charge it with: a bug of the analysis to fix.
	StaticMisses []Violation `json:"static_misses,omitempty"`
}

// Violation is one module exercising one capability.
type Violation struct {
	Module     string     `json:"module"`
	Capability Capability `json:"capability"`
	Path       []Frame    `json:"path"`
	// Rule is the line that denied it, 0 when no line names the module.
	Rule int `json:"rule_line,omitempty"`
}

// Unused is a grant of a capability no module it covers exercises.
type Unused struct {
	Subject    string     `json:"subject"`
	Capability Capability `json:"capability"`
	Line       int        `json:"line"`
}

// Passed reports whether every capability was granted.
func (r *Report) Passed() bool { return len(r.Violations) == 0 }

// subject is how the declaration names a module: "main" for the main
// module, its path otherwise.
func subject(m *Module) string {
	if m.Main {
		return MainSubject
	}
	return m.Path
}

// decide asks the declaration about a module's capability. The main
// module is "main"; a file that names it by its path instead is heard
// too.
func decide(f *File, m *Module, c Capability) Decision {
	d := f.Decide(subject(m), c)
	if m.Main && d.Rule == nil {
		if byPath := f.Decide(m.Path, c); byPath.Rule != nil {
			return byPath
		}
	}
	return d
}

// Check holds what each module's own code does (its direct
// capabilities: what it reaches only through other modules is theirs to
// declare) against the declaration.
func Check(f *File, r *Result) *Report {
	rep := &Report{Declared: f.Name, Violations: []Violation{}}
	used := map[*Rule]map[Capability]bool{}
	for _, m := range r.Modules {
		for _, found := range m.Capabilities {
			if !found.Direct || found.Capability == Indirect {
				continue
			}
			d := decide(f, m, found.Capability)
			v := Violation{Module: m.Path, Capability: found.Capability, Path: found.Path}
			if d.Rule != nil {
				v.Rule = d.Rule.Line
				if d.Allowed {
					markUsed(f, d.Rule, found.Capability, used)
				}
			}
			switch {
			case !d.Allowed:
				rep.Violations = append(rep.Violations, v)
			case d.Warn:
				rep.Warnings = append(rep.Warnings, v)
			}
		}
	}
	for i := range f.Rules {
		rule := &f.Rules[i]
		if rule.Deny {
			continue
		}
		for _, g := range rule.Caps {
			if g != All && !used[rule][g] {
				rep.Unused = append(rep.Unused, Unused{Subject: rule.Subject, Capability: g, Line: rule.Line})
			}
		}
	}
	return rep
}

// markUsed marks the grants that allow c where the deciding rule did: it
// and the rules of the same subject specificity that also grant c.
func markUsed(f *File, decided *Rule, c Capability, used map[*Rule]map[Capability]bool) {
	for i := range f.Rules {
		r := &f.Rules[i]
		if r.Deny || specificity(r.Subject) != specificity(decided.Subject) || (r != decided && r.Subject != decided.Subject) {
			continue
		}
		for _, g := range r.Caps {
			if g.Covers(c) {
				if used[r] == nil {
					used[r] = map[Capability]bool{}
				}
				used[r][g] = true
			}
		}
	}
}

// Change is a capability a module gained or lost between two analyses.
type Change struct {
	Module     string     `json:"module"`
	Capability Capability `json:"capability"`
	// Added is set for a capability gained, clear for one lost.
	Added bool `json:"added"`
	// Path is where the newer code exercises it (for an addition) or the
	// older code did (for a loss).
	Path []Frame `json:"path,omitempty"`
}

// Diff lists, per module, the capabilities its own code gained or lost
// from old to new: what the dependencies can do now that they could not
// before. The main module is compared with the main module whatever its
// path.
func Diff(old, new *Result) []Change {
	type caps struct {
		path  string
		found map[Capability]Found
	}
	direct := func(r *Result) map[string]caps {
		out := map[string]caps{}
		for _, m := range r.Modules {
			c := caps{path: m.Path, found: map[Capability]Found{}}
			for _, f := range m.Capabilities {
				if f.Direct {
					c.found[f.Capability] = f
				}
			}
			out[subject(m)] = c
		}
		return out
	}
	before, after := direct(old), direct(new)
	var out []Change
	for key, a := range after {
		for c, f := range a.found {
			if _, ok := before[key].found[c]; !ok {
				out = append(out, Change{Module: a.path, Capability: c, Added: true, Path: f.Path})
			}
		}
	}
	for key, b := range before {
		for c, f := range b.found {
			if _, ok := after[key].found[c]; !ok {
				out = append(out, Change{Module: b.path, Capability: c, Path: f.Path})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		if out[i].Added != out[j].Added {
			return out[i].Added
		}
		return out[i].Capability < out[j].Capability
	})
	return out
}

// Declaration writes a capabilities.txt that grants exactly what each
// module's own code does, one line per module and capability, with a
// comment saying where the call is.
func Declaration(r *Result) *File {
	f := &File{Version: 1, Unlisted: Deny, OnViolation: "log"}
	for _, m := range r.Modules {
		for _, found := range m.Capabilities {
			if !found.Direct || found.Capability == Indirect {
				continue
			}
			f.Rules = append(f.Rules, Rule{Subject: subject(m), Caps: []Capability{found.Capability}, Comment: where(m.Path, found.Path)})
		}
	}
	return f
}

// PathString shows a call path on one line: "f (file:line) -> g".
func PathString(path []Frame) string {
	parts := make([]string, 0, len(path))
	for _, f := range path {
		if f.Pos != "" {
			parts = append(parts, f.Function+" ("+f.Pos+")")
		} else {
			parts = append(parts, f.Function)
		}
	}
	return strings.Join(parts, " -> ")
}

// where is a module's path shown on one line: the position of the
// module's own first frame (the path starts at an entry point, maybe in
// another module) and the standard-library function it ends in.
func where(module string, path []Frame) string {
	if len(path) == 0 {
		return ""
	}
	first, last := path[0], path[len(path)-1]
	for _, f := range path[:len(path)-1] {
		if f.Module == module {
			first = f
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s", first.Function)
	if first.Pos != "" {
		fmt.Fprintf(&b, " (%s)", first.Pos)
	}
	if len(path) > 1 {
		fmt.Fprintf(&b, " -> %s", last.Function)
	}
	return b.String()
}

// ParseResult reads the JSON of an analysis (customs caps analyze -o
// json), such as one kept from a base branch.
func ParseResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not the JSON of customs caps analyze: %w", err)
	}
	if len(r.Modules) == 0 {
		return nil, errors.New("not the JSON of customs caps analyze: no modules")
	}
	for _, m := range r.Modules {
		if m == nil || m.Path == "" {
			return nil, errors.New("not the JSON of customs caps analyze: a module without a path")
		}
		for _, f := range m.Capabilities {
			if !f.Capability.Valid() || f.Capability == All {
				return nil, fmt.Errorf("module %s: unknown capability %q", m.Path, f.Capability)
			}
		}
	}
	return &r, nil
}
