package scan

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/govulncheck"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
)

// govulncheckSource runs govulncheck's source mode on ./... of a module.
func govulncheckSource(t *testing.T, gvc, db, dir string) map[string]govulncheck.Finding {
	t.Helper()
	cmd := exec.Command(gvc, "-db", "file://"+db, "-format", "json", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("govulncheck ./... in %s: %v\n%s", dir, err, out)
	}
	found, err := govulncheck.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// copyModule copies a module's files (not its subdirectories) to a new
// directory, where the go command may write.
func copyModule(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(from, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return to
}

// TestSourceLevelsMatchGovulncheck scans the fixture program's module
// (testdata/goapp) as Go source and holds every Go finding's level
// against govulncheck v1.9.0's source mode on the same data, and each
// called finding's call path against govulncheck's example trace: the
// same length, the same call in the program's own code, ending at the
// vulnerable function. A warm scan reads the same from the cache.
func TestSourceLevelsMatchGovulncheck(t *testing.T) {
	gvc := os.Getenv("GOVULNCHECK")
	if gvc == "" {
		t.Skip("skipping: set GOVULNCHECK to a govulncheck v1.9.0 binary (.ci/run builds it)")
	}
	zipDir, recordDir := testimage.GoVulnRecords(t)
	mod := copyModule(t, filepath.Join(testimage.Root(), "testdata", "goapp"))
	t.Setenv("GOFLAGS", "-mod=mod")
	want := govulncheckSource(t, gvc, recordDir, mod)
	if len(want) == 0 {
		t.Fatal("govulncheck reports nothing for the fixture module")
	}
	store, err := cas.Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	scanner := &Scanner{Cache: store, DB: zipDir}
	for _, pass := range []string{"cold", "warm"} {
		r, err := scanner.Scan(context.Background(), pull.Target{Kind: pull.Dir, Ref: mod, Input: "dir:" + mod}, Request{Policy: DefaultPolicy()})
		var perr *PolicyError
		if err != nil && !errors.As(err, &perr) {
			t.Fatal(err)
		}
		got := map[string]result.Finding{}
		count := map[string]int{}
		for _, f := range r.Findings {
			got[f.ID] = f
			count[f.Reachability]++
		}
		t.Logf("%s: customs %v", pass, count)
		for id, w := range want {
			f, ok := got[id]
			if !ok {
				t.Errorf("%s: %s: govulncheck says %s, customs has no finding", pass, id, w.Level)
				continue
			}
			if f.Reachability != w.Level {
				t.Errorf("%s: %s: customs says %q, govulncheck %q", pass, id, f.Reachability, w.Level)
			}
			if w.Level != "called" {
				if f.ReachabilityPath != nil || f.Fails {
					t.Errorf("%s: %s (%s): path %v, fails %v; want neither", pass, id, f.Reachability, f.ReachabilityPath, f.Fails)
				}
				continue
			}
			if !f.Fails {
				t.Errorf("%s: %s is called and passes", pass, id)
			}
			p, tr := f.ReachabilityPath, w.Trace
			entry, sink := tr[len(tr)-1], tr[0]
			if len(p) != len(tr) || p[0].Pos != entry.Pos() ||
				!strings.HasSuffix(strings.NewReplacer("(", "", ")", "", "*", "").Replace(p[len(p)-1].Function), sink.Package+"."+strings.TrimPrefix(sink.Receiver+".", ".")+sink.Function) {
				t.Errorf("%s: %s: customs' path %+v; govulncheck's trace %+v", pass, id, p, tr)
			}
		}
		for id, f := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: %s: customs says %q, govulncheck reports nothing", pass, id, f.Reachability)
			}
		}
	}
}

// TestSourceGateBaseline: a program that imports a vulnerable package but
// calls none of its vulnerable functions passes; the next commit calls
// one, and against the first scan as baseline its findings are new, fail
// the gate, and name the call path in the program's code.
func TestSourceGateBaseline(t *testing.T) {
	zipDir, _ := testimage.GoVulnRecords(t)
	mod := t.TempDir()
	goSum, err := os.ReadFile(filepath.Join(testimage.Root(), "testdata", "goapp", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.sum", string(goSum))
	write("go.mod", "module example.com/gate\n\ngo 1.22\n\nrequire (\n\tgithub.com/tidwall/gjson v1.6.5\n\tgithub.com/tidwall/match v1.0.3 // indirect\n\tgithub.com/tidwall/pretty v1.0.2 // indirect\n)\n")
	write("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/tidwall/gjson\"\n)\n\nfunc main() {\n\tfmt.Println(gjson.Valid(`{}`))\n}\n")
	t.Setenv("GOFLAGS", "-mod=mod")
	store, err := cas.Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	scanner := &Scanner{Cache: store, DB: zipDir}
	target := pull.Target{Kind: pull.Dir, Ref: mod, Input: "dir:" + mod}
	base, err := scanner.Scan(context.Background(), target, Request{Policy: DefaultPolicy()})
	if err != nil {
		t.Fatalf("the program that only imports gjson: %v", err)
	}
	if len(base.Findings) == 0 {
		t.Fatal("no findings for gjson 1.6.5")
	}
	for _, f := range base.Findings {
		if f.Reachability != "imported" || f.Fails {
			t.Errorf("before: %s is %q, fails %v; want imported, passing", f.ID, f.Reachability, f.Fails)
		}
	}

	write("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/tidwall/gjson\"\n)\n\nfunc main() {\n\tfmt.Println(gjson.Valid(`{}`))\n\tfmt.Println(lookup(`{\"a\":1}`))\n}\n\nfunc lookup(s string) int64 {\n\treturn gjson.Get(s, \"a\").Int()\n}\n")
	r, err := scanner.Scan(context.Background(), target, Request{Policy: DefaultPolicy(), Baseline: base})
	var perr *PolicyError
	if !errors.As(err, &perr) {
		t.Fatalf("after the call: %v; want the gate to fail", err)
	}
	for _, f := range r.Findings {
		if f.Reachability != "called" || f.Baseline != result.New || !f.Fails {
			t.Errorf("after: %s is %q, %s, fails %v; want called, new, failing", f.ID, f.Reachability, f.Baseline, f.Fails)
		}
		p := f.ReachabilityPath
		if len(p) != 3 || p[0].Function != "example.com/gate.main" || p[0].Pos != "main.go:11" ||
			p[1].Function != "example.com/gate.lookup" || p[1].Pos != "main.go:15" || p[2].Function != "github.com/tidwall/gjson.Get" {
			t.Errorf("after: %s: path %+v; want main (main.go:11) → lookup (main.go:15) → gjson.Get", f.ID, p)
		}
	}
}
