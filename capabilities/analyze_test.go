package capabilities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// analyzeApp analyses testdata/caps/app, whose dependency example.com/evil
// (wired with a replace) runs a program, dials the network and writes a
// file.
func analyzeApp(t *testing.T) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), Options{Dir: filepath.Join(testimage.Root(), "testdata", "caps", "app")})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAnalyzeChargesTheDependency(t *testing.T) {
	res := analyzeApp(t)
	if res.Main != "example.com/app" {
		t.Errorf("Main = %q, want example.com/app", res.Main)
	}
	evil, app := res.Module("example.com/evil"), res.Module("example.com/app")
	if evil == nil || app == nil {
		t.Fatalf("modules = %+v, want example.com/app and example.com/evil", res.Modules)
	}
	for _, tc := range []struct {
		c    Capability
		call string
	}{
		{Exec, "os/exec.Command"},
		{NetworkConnect, "net.Dial"},
		{FilesWrite, "os.WriteFile"},
	} {
		f := evil.Capability(tc.c)
		if f == nil || !f.Direct {
			t.Errorf("example.com/evil %s = %+v, want it charged directly", tc.c, f)
			continue
		}
		// From the entry point: main calls evil.Do, which makes the call.
		if len(f.Path) != 3 || f.Path[0].Function != "example.com/app.main" || !strings.HasPrefix(f.Path[0].Pos, "main.go:") ||
			f.Path[1].Function != "example.com/evil.Do" || !strings.HasPrefix(f.Path[1].Pos, "evil.go:") || f.Path[2].Function != tc.call {
			t.Errorf("example.com/evil %s path = %+v, want example.com/app.main (main.go:N) -> example.com/evil.Do (evil.go:N) -> %s", tc.c, f.Path, tc.call)
		}
		// The main module reaches it only through evil: it is not charged.
		a := app.Capability(tc.c)
		if a == nil || a.Direct || len(a.Via) != 1 || a.Via[0] != "example.com/evil" {
			t.Errorf("example.com/app %s = %+v, want it reached via example.com/evil only", tc.c, a)
		} else if a.Path[0].Function != "example.com/app.main" || a.Path[len(a.Path)-1].Function != tc.call {
			t.Errorf("example.com/app %s path = %+v", tc.c, a.Path)
		}
	}
	for _, f := range app.Capabilities {
		if f.Direct {
			t.Errorf("example.com/app is charged %s directly (%+v); it only prints", f.Capability, f.Path)
		}
	}
}

func TestCheckDeclarations(t *testing.T) {
	res := analyzeApp(t)
	for _, tc := range []struct {
		name, declared string
		violations     []string
		unused         []string
	}{
		{"nothing granted", "capabilities 1\nmain ALL\n", []string{"example.com/evil EXEC", "example.com/evil FILES/WRITE", "example.com/evil NETWORK/CONNECT"}, nil},
		{"granted", "capabilities 1\nexample.com/evil EXEC NETWORK FILES/WRITE\n", nil, nil},
		{"parents grant children", "capabilities 1\nexample.com/* EXEC NETWORK FILES\n", nil, nil},
		{"deny beats a glob", "capabilities 1\nexample.com/* ALL\ndeny example.com/evil EXEC\n", []string{"example.com/evil EXEC"}, nil},
		{"unused grant", "capabilities 1\nexample.com/evil EXEC NETWORK FILES/WRITE REFLECT\n", nil, []string{"example.com/evil REFLECT"}},
		{"unlisted allow", "capabilities 1\nunlisted allow\n", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("capabilities.txt", []byte(tc.declared))
			if err != nil {
				t.Fatal(err)
			}
			rep := Check(f, res)
			var got, unused []string
			for _, v := range rep.Violations {
				got = append(got, v.Module+" "+string(v.Capability))
				if len(v.Path) == 0 {
					t.Errorf("violation %+v has no path", v)
				}
			}
			for _, u := range rep.Unused {
				unused = append(unused, u.Subject+" "+string(u.Capability))
			}
			if strings.Join(got, ", ") != strings.Join(tc.violations, ", ") {
				t.Errorf("Check(%q) violations = %v, want %v", tc.declared, got, tc.violations)
			}
			if strings.Join(unused, ", ") != strings.Join(tc.unused, ", ") {
				t.Errorf("Check(%q) unused = %v, want %v", tc.declared, unused, tc.unused)
			}
			if rep.Passed() != (len(tc.violations) == 0) {
				t.Errorf("Passed() = %v", rep.Passed())
			}
		})
	}
}

// TestDeclarationRoundTrips checks that caps init's output parses, grants
// exactly what was found, and survives printing.
func TestDeclarationRoundTrips(t *testing.T) {
	res := analyzeApp(t)
	out := Declaration(res).Format()
	f, err := Parse("capabilities.txt", out)
	if err != nil {
		t.Fatalf("Parse(caps init output) = %v\n%s", err, out)
	}
	if rep := Check(f, res); !rep.Passed() || len(rep.Unused) != 0 {
		t.Errorf("the declaration caps init wrote does not fit the code: %+v\n%s", rep, out)
	}
	if again := f.Format(); string(again) != string(out) {
		t.Errorf("Format(Parse(out)) differs:\n%s\nwant\n%s", again, out)
	}
	if !strings.Contains(string(out), "example.com/evil") || !strings.Contains(string(out), "# example.com/evil.Do (evil.go:") {
		t.Errorf("caps init output does not say where each grant comes from:\n%s", out)
	}
}

// scratchModule writes a module that imports real modules, resolved
// through GOPROXY (the go command adds and checks go.sum entries).
func scratchModule(t *testing.T, gomod, main string) Options {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: fetches real modules through GOPROXY")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644)
	return Options{Dir: dir, Env: append(os.Environ(), "GOFLAGS=-mod=mod")}
}

// TestRealModules analyses real modules fetched through the proxy:
// golang.org/x/crypto v0.58.0 (ssh), golang.org/x/sys v0.49.0 (its
// assembly system calls), gopkg.in/yaml.v2 v2.4.0 and
// github.com/skratchdot/open-golang at eef842397966 (an os/exec user).
func TestRealModules(t *testing.T) {
	opts := scratchModule(t, `module example.com/scratch

go 1.26

require (
	github.com/skratchdot/open-golang v0.0.0-20200116055534-eef842397966
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
	gopkg.in/yaml.v2 v2.4.0
)
`, `package main

import (
	"github.com/skratchdot/open-golang/open"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v2"
)

func main() {
	unix.Getpid()
	ssh.Dial("tcp", "127.0.0.1:22", &ssh.ClientConfig{})
	var v map[string]any
	yaml.Unmarshal([]byte("a: 1"), &v)
	open.Run("https://example.com")
}
`)
	res, err := Analyze(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		module string
		c      Capability
	}{
		{"golang.org/x/crypto", NetworkConnect},
		{"gopkg.in/yaml.v2", Reflect},
		{"github.com/skratchdot/open-golang", Exec},
		{"golang.org/x/sys", SystemCalls},
	} {
		m := res.Module(tc.module)
		if m == nil {
			t.Errorf("%s not in the result", tc.module)
			continue
		}
		f := m.Capability(tc.c)
		if f == nil || !f.Direct || len(f.Path) < 2 {
			t.Errorf("%s %s = %+v, want it reached directly, with a path", tc.module, tc.c, f)
		}
	}
	if m := res.Module("example.com/scratch"); m == nil || m.Capability(NetworkConnect) == nil || m.Capability(NetworkConnect).Direct {
		t.Errorf("the main module should reach NETWORK/CONNECT through golang.org/x/crypto only: %+v", m)
	}
}

// TestGOOS analyses the files another GOOS builds.
func TestGOOS(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/goos\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { run() }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run_linux.go"), []byte("package main\n\nimport \"os/exec\"\n\nfunc run() { exec.Command(\"true\").Run() }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run_windows.go"), []byte("package main\n\nimport \"os\"\n\nfunc run() { os.Getenv(\"X\") }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run_tag.go"), []byte("//go:build netdial\n\npackage main\n\nimport \"net\"\n\nfunc init() { net.Dial(\"tcp\", \"x:1\") }\n"), 0o644)
	for _, tc := range []struct {
		goos string
		tags []string
		want []Capability
	}{
		{"linux", nil, []Capability{Exec}},
		{"windows", nil, []Capability{ReadSystemState}},
		{"linux", []string{"netdial"}, []Capability{Exec, NetworkConnect}},
	} {
		res, err := Analyze(context.Background(), Options{Dir: dir, GOOS: tc.goos, GOARCH: "amd64", Tags: tc.tags})
		if err != nil {
			t.Fatal(err)
		}
		var got []Capability
		for _, f := range res.Modules[0].Capabilities {
			got = append(got, f.Capability)
		}
		if strings.Join(capStrings(got), " ") != strings.Join(capStrings(tc.want), " ") {
			t.Errorf("GOOS=%s tags %v: capabilities %v, want %v", tc.goos, tc.tags, got, tc.want)
		}
	}
}

func capStrings(cs []Capability) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c))
	}
	return out
}

// FuzzParseResult feeds saved analyses (the JSON caps diff and check read)
// to the parser: errors, never a crash, and what parses can be diffed.
func FuzzParseResult(f *testing.F) {
	f.Add([]byte(`{"main":"example.com/app","modules":[{"path":"example.com/app","main":true,"capabilities":[{"capability":"EXEC","direct":true,"path":[{"function":"main.main","pos":"main.go:3"},{"function":"os/exec.Command"}]}]}]}`))
	f.Add([]byte(`{"modules":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResult(b)
		if err != nil {
			return
		}
		Diff(r, r)
		if decl, err := Parse("capabilities.txt", Declaration(r).Format()); err == nil {
			Check(decl, r)
		}
	})
}
