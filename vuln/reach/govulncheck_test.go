package reach

import (
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/govulncheck"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/vuln"
)

// govulncheckLevels runs govulncheck -mode binary and returns the level of
// each vulnerability it reports: the deepest of its findings (a trace
// that starts at a function: called; at a package: imported; else
// required).
func govulncheckLevels(t *testing.T, gvc, db, bin string) map[string]Level {
	t.Helper()
	cmd := exec.Command(gvc, "-db", "file://"+db, "-format", "json", "-mode", "binary", bin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("govulncheck -mode binary %s: %v\n%s", bin, err, out)
	}
	found, err := govulncheck.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]Level{}
	for id, f := range found {
		levels[id] = Level(f.Level)
	}
	return levels
}

// customsLevels matches the binary's modules (and the standard library of
// its Go release) against the data, and grades each finding.
func customsLevels(t *testing.T, db, bin string) map[string]Level {
	t.Helper()
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ReadBinary(f)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []vuln.Package{{Ecosystem: "Go", Name: StdlibModule, Version: strings.TrimPrefix(bi.GoVersion, "go")}}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		pkgs = append(pkgs, vuln.Package{Ecosystem: "Go", Name: d.Path, Version: strings.TrimPrefix(d.Version, "v")})
	}
	d, err := vuln.Open(db, vuln.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.Match(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]Level{}
	for _, fd := range m.Findings {
		for _, rec := range fd.Records {
			levels[rec.GetId()] = b.Level(rec, fd.Package.Name)
		}
	}
	return levels
}

// TestLevelsMatchGovulncheck builds the fixture program (old gjson,
// x/text, yaml.v2, x/net, x/crypto) and holds customs' levels against
// govulncheck v1.9.0's binary mode on the same data, for the executable as
// built, position-independent, and stripped. govulncheck cannot read the
// functions of a stripped executable and reports every vulnerability of
// its modules as called; customs reads the pclntab, which stripping
// keeps, and grades it as the unstripped one (docs/reachability.md).
func TestLevelsMatchGovulncheck(t *testing.T) {
	gvc := os.Getenv("GOVULNCHECK")
	if gvc == "" {
		t.Skip("skipping: set GOVULNCHECK to a govulncheck v1.9.0 binary (.ci/run builds it)")
	}
	zipDir, recordDir := testimage.GoVulnRecords(t)
	dir := t.TempDir()
	build := func(name string, flags ...string) string {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build", "-trimpath", "-o", out}, flags...), ".")...)
		cmd.Dir = filepath.Join(testimage.Root(), "testdata", "goapp")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building testdata/goapp %v: %v\n%s", flags, err, b)
		}
		return out
	}
	plain := build("goapp")
	want := govulncheckLevels(t, gvc, recordDir, plain)
	if len(want) == 0 {
		t.Fatal("govulncheck reports nothing for the fixture program")
	}
	count := func(m map[string]Level) map[Level]int {
		c := map[Level]int{}
		for _, l := range m {
			c[l]++
		}
		return c
	}
	t.Logf("govulncheck on the fixture program: %v", count(want))
	for _, tc := range []struct {
		name  string
		flags []string
		// govulncheck is its own reference, except where it cannot read
		// the executable's functions.
		reference string
	}{
		{"plain", nil, "self"},
		{"pie", []string{"-buildmode=pie"}, "self"},
		{"stripped", []string{"-ldflags=-s -w"}, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := build("goapp-"+tc.name, tc.flags...)
			ref := want
			if tc.reference == "self" {
				ref = govulncheckLevels(t, gvc, recordDir, bin)
			}
			got := customsLevels(t, zipDir, bin)
			var ids []string
			for id := range ref {
				ids = append(ids, id)
			}
			for id, l := range got {
				// govulncheck leaves out what is for other platforms.
				if l == OtherPlatform {
					delete(got, id)
					continue
				}
				if _, ok := ref[id]; !ok {
					ids = append(ids, id)
				}
			}
			sort.Strings(ids)
			for _, id := range ids {
				if got[id] != ref[id] {
					t.Errorf("%s: customs says %q, govulncheck (%s) %q", id, got[id], tc.reference, ref[id])
				}
			}
			t.Logf("customs: %v", count(got))
		})
	}
}
