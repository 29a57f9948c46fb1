package capabilities

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// buildTraced builds testdata/trace/app (whose dependency example.com/dep
// dials, writes a file and runs a program) with extra go build flags.
func buildTraced(t *testing.T, goarch string, env []string, flags ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), ".")...)
	cmd.Dir = filepath.Join(testimage.Root(), "testdata", "trace", "app")
	cmd.Env = append(append(os.Environ(), "GOOS=linux", "GOARCH="+goarch), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/trace/app %v: %v\n%s", flags, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func direct(r *Result, module string) []Capability {
	var out []Capability
	if m := r.Module(module); m != nil {
		for _, f := range m.Capabilities {
			if f.Direct {
				out = append(out, f.Capability)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestAnalyzeBinary reads the capabilities of a compiled program without
// its source: the dependency is charged with what it does, with the call
// site, on x86-64 and arm64, stripped or not, linked by Go or by the C
// linker; and what the binary shows is what the source analysis finds.
func TestAnalyzeBinary(t *testing.T) {
	src, err := Analyze(context.Background(), Options{Dir: filepath.Join(testimage.Root(), "testdata", "trace", "app")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Capability{"EXEC", "FILES/WRITE", "NETWORK/CONNECT"}
	if got := direct(src, "example.com/dep"); !slices.Equal(got, want) {
		t.Fatalf("the source analysis gives the dependency %v; the test expects %v", got, want)
	}
	builds := []struct {
		name, goarch string
		env, flags   []string
	}{
		{"amd64", "amd64", []string{"CGO_ENABLED=0"}, nil},
		{"amd64 stripped", "amd64", []string{"CGO_ENABLED=0"}, []string{"-ldflags=-s -w"}},
		{"arm64 stripped", "arm64", []string{"CGO_ENABLED=0"}, []string{"-ldflags=-s -w"}},
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		// The C linker puts its own code before the Go text: function
		// addresses must be read from the runtime's tables, not assumed.
		builds = append(builds, struct {
			name, goarch string
			env, flags   []string
		}{"amd64 external linker, stripped", "amd64", []string{"CGO_ENABLED=1"}, []string{"-ldflags=-linkmode=external -s -w"}})
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			bin := buildTraced(t, b.goarch, b.env, b.flags...)
			res, err := AnalyzeBinary(bytes.NewReader(bin))
			if err != nil {
				t.Fatal(err)
			}
			if got := direct(res, "example.com/dep"); !slices.Equal(got, want) {
				t.Errorf("the dependency: %v, want %v", got, want)
			}
			if f := res.Module("example.com/dep").Capability("EXEC"); f == nil || len(f.Path) != 2 || f.Path[0].Function != "example.com/dep.Work.func1" ||
				filepath.Base(f.Path[0].Pos) != "dep.go:20" || f.Path[1].Function != "os/exec.Command" {
				t.Errorf("EXEC call site: %+v", f)
			}
			if res.Main != "example.com/traced" || res.GOARCH != b.goarch || !res.Module("example.com/traced").Main {
				t.Errorf("main %q, GOARCH %q", res.Main, res.GOARCH)
			}
			// Nothing the binary shows is unknown to the source analysis.
			for _, m := range res.Modules {
				for _, c := range direct(res, m.Path) {
					if !slices.Contains(direct(src, m.Path), c) {
						t.Errorf("%s %s: seen in the binary but not in the source", m.Path, c)
					}
				}
			}
			// And the declaration holds it as it holds the source.
			decl, _ := Parse("capabilities.txt", []byte("capabilities 1\nmain ALL\nexample.com/dep FILES\n"))
			rep := Check(decl, res)
			var denied []Capability
			for _, v := range rep.Violations {
				denied = append(denied, v.Capability)
			}
			if !slices.Equal(denied, []Capability{"EXEC", "NETWORK/CONNECT"}) {
				t.Errorf("violations %v, want EXEC and NETWORK/CONNECT", denied)
			}
		})
	}
}

func TestAnalyzeBinaryRejects(t *testing.T) {
	script := []byte("#!/bin/sh\necho hi\n")
	notGo, _ := os.ReadFile("/bin/true")
	for name, b := range map[string][]byte{"script": script, "C program": notGo, "empty": nil, "truncated": buildTraced(t, "amd64", []string{"CGO_ENABLED=0"})[:100000]} {
		if _, err := AnalyzeBinary(bytes.NewReader(b)); !errors.Is(err, ErrNotGoBinary) {
			t.Errorf("%s: %v, want ErrNotGoBinary", name, err)
		}
	}
}

// FuzzAnalyzeBinary feeds mutated executables: errors, never a crash.
func FuzzAnalyzeBinary(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		AnalyzeBinary(bytes.NewReader(b))
	})
}
