package vuln

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
)

// sharedDB is the real OSV data beside the repository.
func sharedDB(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv")
	if _, err := os.Stat(filepath.Join(dir, "Go", "all.zip")); err != nil {
		t.Skipf("skipping: the shared OSV data is not at %s (see ../shared/testdata/README.md)", dir)
	}
	return dir
}

func readGolden(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// pairs lists "package version ID" for every ID of every finding.
func pairs(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		for _, id := range f.IDs {
			out = append(out, f.Package.Name+" "+f.Package.Version+" "+id)
		}
	}
	sort.Strings(out)
	return out
}

// TestMatchAgreesWithOSVScanner scans the Go binary of testdata/goapp and
// compares with what osv-scanner v2.4.0 reported for it (the golden file
// says how it was produced).
func TestMatchAgreesWithOSVScanner(t *testing.T) {
	dbDir := sharedDB(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "goapp"), testimage.GoBinary(t, "amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := pull.Fetch(context.Background(), pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s, err := sbom.Generate(context.Background(), a, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, _ := cas.Open(t.TempDir())
	db, err := Open(dbDir, Options{Cache: store})
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []Package
	for _, p := range Packages(s) {
		if p.Ecosystem == "Go" {
			pkgs = append(pkgs, p)
		}
	}
	res, err := db.Match(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readGolden(t, "osv-scanner-goapp.golden"), pairs(res)); diff != "" {
		t.Errorf("findings differ from osv-scanner's (-osv-scanner +customs):\n%s", diff)
	}
	// The second run reads the index from the cache and agrees.
	db2, _ := Open(dbDir, Options{Cache: store})
	res2, err := db2.Match(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pairs(res), pairs(res2)); diff != "" {
		t.Errorf("cached index gives other findings:\n%s", diff)
	}
}

// TestMatchAgreesWithOSVScannerOnPython does the same for a Python
// environment: dist-info METADATA files against the PyPI records.
func TestMatchAgreesWithOSVScannerOnPython(t *testing.T) {
	dbDir := sharedDB(t)
	dir := filepath.Join(testimage.Root(), "testdata", "pyenv")
	a, err := pull.Fetch(context.Background(), pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s, err := sbom.Generate(context.Background(), a, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(dbDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Match(context.Background(), Packages(s))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readGolden(t, "osv-scanner-pyenv.golden"), pairs(res)); diff != "" {
		t.Errorf("findings differ from osv-scanner's (-osv-scanner +customs):\n%s", diff)
	}
}
