package capabilities

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// capslockProgram is one of the programs whose capslock results are in
// ../shared/testdata/capslock.
type capslockProgram struct {
	name, module, version, pkg string
}

var capslockPrograms = []capslockProgram{
	{"yq", "github.com/mikefarah/yq/v4", "v4.45.1", "github.com/mikefarah/yq/v4"},
	{"stringer", "golang.org/x/tools", "v0.52.0", "golang.org/x/tools/cmd/stringer"},
	{"gjsonapp", "github.com/tidwall/gjson", "v1.18.0", "github.com/tidwall/gjson"},
}

// top is the top-level capability capslock's package view names.
func top(c Capability) Capability {
	for c.Parent() != "" {
		c = c.Parent()
	}
	return c
}

// capslockCharge is one capability capslock found for the analysed
// package, with its example path and the module whose code makes the
// call at the boundary of the standard library (the last frame outside
// it; the last frame for assembly).
type capslockCharge struct {
	c      Capability
	module string
	path   []string
}

// capslockView reads capslock's capabilities of the analysed package, one
// example path each.
func capslockView(t *testing.T, name string, modules []string) []capslockCharge {
	t.Helper()
	dir := filepath.Join(testimage.Root(), "..", "shared", "testdata", "capslock")
	raw, err := os.ReadFile(filepath.Join(dir, name+".capslock.json"))
	if err != nil {
		t.Skipf("skipping: capslock's results are not in %s: %v", dir, err)
	}
	var full struct {
		CapabilityInfo []struct {
			CapabilityName string `json:"capabilityName"`
			Path           []struct {
				Name    string `json:"name"`
				Package string `json:"package"`
			} `json:"path"`
		} `json:"capabilityInfo"`
	}
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	moduleOf := func(pkg string) string {
		mod := ""
		for _, m := range modules {
			if (pkg == m || strings.HasPrefix(pkg, m+"/")) && len(m) > len(mod) {
				mod = m
			}
		}
		return mod
	}
	var out []capslockCharge
	for _, ci := range full.CapabilityInfo {
		ch := capslockCharge{c: top(Capability(ci.CapabilityName))}
		for _, p := range ci.Path {
			ch.path = append(ch.path, p.Name)
			if ch.module != "" && !strings.Contains(strings.SplitN(p.Package, "/", 2)[0], ".") {
				break
			}
			if m := moduleOf(p.Package); m != "" {
				ch.module = m
			}
		}
		out = append(out, ch)
	}
	return out
}

// TestCapslockSideBySide analyses the three programs capslock was run on
// (the module through GOPROXY, from the same package) and compares the
// two tools: for each capability capslock finds, whether customs charges
// the module capslock's path makes the call from (directly, by top-level
// capability); and each top-level capability customs charges some module
// of the program with that capslock does not find at all. Every
// difference must be a row of the table in docs/capabilities.md, with a
// verdict; the test prints both tools' call paths for each.
func TestCapslockSideBySide(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testimage.Root(), "docs", "capabilities.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range capslockPrograms {
		t.Run(prog.name, func(t *testing.T) {
			opts := scratchModule(t, fmt.Sprintf("module capsref.example/%s\n\ngo 1.26\n\nrequire %s %s\n", prog.name, prog.module, prog.version), "package main\n\nfunc main() {}\n")
			opts.Patterns = []string{prog.pkg}
			res, err := Analyze(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			var modules []string
			direct := map[string]map[Capability]*Found{}
			program := map[Capability]*Found{}
			for _, m := range res.Modules {
				modules = append(modules, m.Path)
				direct[m.Path] = map[Capability]*Found{}
				for i, f := range m.Capabilities {
					if f.Capability == Indirect || !f.Direct {
						continue
					}
					if _, ok := direct[m.Path][top(f.Capability)]; !ok {
						direct[m.Path][top(f.Capability)] = &m.Capabilities[i]
					}
					if _, ok := program[top(f.Capability)]; !ok {
						program[top(f.Capability)] = &m.Capabilities[i]
					}
				}
			}
			theirs := capslockView(t, prog.name, modules)
			var missing, rows []string
			found := map[Capability]bool{}
			check := func(row, ours, capslock string) {
				if slices.Contains(rows, row) {
					return
				}
				t.Logf("%s\n    customs:  %s\n    capslock: %s", row, ours, capslock)
				rows = append(rows, row)
				if !strings.Contains(string(doc), row) {
					missing = append(missing, row)
				}
			}
			for _, ch := range theirs {
				found[ch.c] = true
				if direct[ch.module][ch.c] != nil {
					continue
				}
				ours := "—"
				if f := program[ch.c]; f != nil {
					ours = "charges it to another module: " + PathString(f.Path)
				}
				check(fmt.Sprintf("| %s | %s | %s | capslock only |", prog.name, ch.module, ch.c), ours, strings.Join(ch.path, " -> "))
			}
			var caps []Capability
			for c := range program {
				if !found[c] {
					caps = append(caps, c)
				}
			}
			sort.Slice(caps, func(i, j int) bool { return caps[i] < caps[j] })
			for _, c := range caps {
				f := program[c]
				check(fmt.Sprintf("| %s | %s | %s | customs only |", prog.name, f.Path[len(f.Path)-2].Module, c), PathString(f.Path), "—")
			}
			t.Logf("%s: %d capabilities for capslock, %d for customs, %d differences", prog.name, len(found), len(program), len(rows))
			if len(missing) > 0 {
				t.Errorf("differences from capslock not explained in docs/capabilities.md (add a row with a verdict):\n%s", strings.Join(missing, "\n"))
			}
		})
	}
}
