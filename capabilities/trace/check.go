package trace

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/customs-dev/customs/capabilities"
)

// Check holds what the traced programs did against a declaration: each
// (module, capability) must be granted, and where the deciding grant has
// scopes, every example argument must fall inside one of them.
func Check(f *capabilities.File, p *Profile) *capabilities.Report {
	rep := &capabilities.Report{Declared: f.Name, Violations: []capabilities.Violation{}}
	for _, ch := range p.Charges {
		d := f.Decide(ch.Module, ch.Capability)
		v := capabilities.Violation{Module: ch.Module, Capability: ch.Capability, Path: stackFrames(ch)}
		if d.Rule != nil {
			v.Rule = d.Rule.Line
		}
		switch {
		case !d.Allowed:
			rep.Violations = append(rep.Violations, v)
		case d.Warn:
			rep.Warnings = append(rep.Warnings, v)
		case d.Rule != nil && len(d.Rule.Scopes) > 0:
			for _, ex := range ch.Examples {
				if !inScope(d.Rule.Scopes, ex) {
					v.Path = append([]capabilities.Frame{{Function: "outside the granted scope: " + ex}}, v.Path...)
					rep.Violations = append(rep.Violations, v)
					break
				}
			}
		}
	}
	return rep
}

// Agree holds both views of a program against a declaration: what its
// code can do (the static analysis) and what the trace saw it do. A
// (module, capability) either finds undeclared is a violation; one the
// trace saw a module of the analysed program exercise and the analysis
// does not charge its own code with (nor INDIRECT, a dynamic call the
// trace charges to the caller) is a static miss; a grant is unused only
// when neither used it.
func Agree(f *capabilities.File, static *capabilities.Result, p *Profile) *capabilities.Report {
	rep := capabilities.Check(f, static)
	traced := Check(f, p)
	key := func(v capabilities.Violation) string { return v.Module + " " + string(v.Capability) }
	seen := map[string]bool{}
	for _, v := range append(append([]capabilities.Violation(nil), rep.Violations...), rep.Warnings...) {
		seen[key(v)] = true
	}
	for _, v := range traced.Violations {
		if !seen[key(v)] {
			seen[key(v)] = true
			rep.Violations = append(rep.Violations, v)
		}
	}
	for _, v := range traced.Warnings {
		if !seen[key(v)] {
			seen[key(v)] = true
			rep.Warnings = append(rep.Warnings, v)
		}
	}
	usedByTrace := map[int][]capabilities.Capability{}
	for _, ch := range p.Charges {
		if d := f.Decide(ch.Module, ch.Capability); d.Allowed && d.Rule != nil {
			usedByTrace[d.Rule.Line] = append(usedByTrace[d.Rule.Line], ch.Capability)
		}
		m := staticModule(static, ch.Module)
		if m == nil || charges(m, ch.Capability) {
			continue
		}
		miss := capabilities.Violation{Module: ch.Module, Capability: ch.Capability, Path: stackFrames(ch)}
		if !seen["miss "+key(miss)] {
			seen["miss "+key(miss)] = true
			rep.StaticMisses = append(rep.StaticMisses, miss)
		}
	}
	var unused []capabilities.Unused
	for _, u := range rep.Unused {
		used := false
		for _, c := range usedByTrace[u.Line] {
			used = used || u.Capability.Covers(c)
		}
		if !used {
			unused = append(unused, u)
		}
	}
	rep.Unused = unused
	return rep
}

// staticModule is the analysed module a trace charge names ("main" is the
// main module), nil for a module of another program.
func staticModule(r *capabilities.Result, module string) *capabilities.Module {
	for _, m := range r.Modules {
		if m.Path == module || m.Main && module == capabilities.MainSubject {
			return m
		}
	}
	return nil
}

// charges reports whether the analysis charges a module's own code with c
// (or a capability that covers it, or one it covers), as the trace does,
// or with INDIRECT: a call through a value whose capability it could not
// name, which the trace charges to the caller.
func charges(m *capabilities.Module, c capabilities.Capability) bool {
	for _, f := range m.Capabilities {
		if f.Capability == capabilities.Indirect || f.Direct && (f.Capability.Covers(c) || c.Covers(f.Capability)) {
			return true
		}
	}
	return false
}

// Declaration proposes a capabilities.txt granting what the trace saw.
func Declaration(p *Profile) *capabilities.File {
	f := &capabilities.File{Version: 1, Unlisted: capabilities.Deny, OnViolation: "log"}
	seen := map[string]bool{}
	for _, ch := range p.Charges {
		key := ch.Module + " " + string(ch.Capability)
		if seen[key] {
			continue
		}
		seen[key] = true
		comment := fmt.Sprintf("seen %d times in %s", ch.Count, ch.Executable)
		if len(ch.Examples) > 0 {
			comment += ", e.g. " + ch.Examples[0]
		}
		f.Rules = append(f.Rules, capabilities.Rule{Subject: ch.Module, Caps: []capabilities.Capability{ch.Capability}, Comment: strings.ReplaceAll(comment, "#", "")})
	}
	return f
}

func stackFrames(ch *Charge) []capabilities.Frame {
	var out []capabilities.Frame
	for _, s := range ch.Stack {
		out = append(out, capabilities.Frame{Function: s})
	}
	return out
}

// inScope reports whether an example ("address=1.2.3.4:5432",
// "path=/etc/x", "program=/bin/git argv=...") falls in one of the scopes.
func inScope(scopes []capabilities.Scope, example string) bool {
	key, value, _ := strings.Cut(example, "=")
	want := map[string]string{"address": "host", "path": "path", "program": "program"}[key]
	if key == "program" {
		value, _, _ = strings.Cut(value, " ")
	}
	if key == "path" {
		value, _, _ = strings.Cut(value, " -> ")
	}
	for _, s := range scopes {
		if s.Key == want && s.Match(value) {
			return true
		}
	}
	return false
}

// ParseProfile reads a profile customs trace wrote.
func ParseProfile(b []byte) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("not a customs trace profile: %w", err)
	}
	for _, ch := range p.Charges {
		if ch == nil || ch.Module == "" || !ch.Capability.Valid() {
			return nil, fmt.Errorf("not a customs trace profile: a charge without a module or with an unknown capability")
		}
	}
	return &p, nil
}
