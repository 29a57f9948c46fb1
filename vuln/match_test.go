package vuln

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anchore/packageurl-go"
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

// scanTarget makes the SBOM of a target and matches its packages of the
// given ecosystem (all when empty) against the shared data.
func scanTarget(t *testing.T, target pull.Target, ecosystem string) *Result {
	t.Helper()
	dbDir := sharedDB(t)
	a, err := pull.Fetch(context.Background(), target, pull.Options{})
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
	var pkgs []Package
	for _, p := range must(Packages(s)) {
		if ecosystem == "" || p.Ecosystem == ecosystem {
			pkgs = append(pkgs, p)
		}
	}
	res, err := db.Match(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	return res
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
	for _, p := range must(Packages(s)) {
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
	// A database installed by customs, read through the index stored
	// beside its zip, agrees too.
	installed := t.TempDir()
	if _, err := Install(installed, "Go", filepath.Join(dbDir, "Go", "all.zip")); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	db3, _ := Open(installed, Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	res3, err := db3.Match(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "indexed OSV records") {
		t.Errorf("the installed database was indexed again")
	}
	if diff := cmp.Diff(pairs(res), pairs(res3)); diff != "" {
		t.Errorf("the stored index gives other findings:\n%s", diff)
	}
}

// TestMatchAgreesWithOSVScannerOnPython does the same for a Python
// environment: dist-info METADATA files against the PyPI records.
func TestMatchAgreesWithOSVScannerOnPython(t *testing.T) {
	dir := filepath.Join(testimage.Root(), "testdata", "pyenv")
	res := scanTarget(t, pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, "")
	if diff := cmp.Diff(readGolden(t, "osv-scanner-pyenv.golden"), pairs(res)); diff != "" {
		t.Errorf("findings differ from osv-scanner's (-osv-scanner +customs):\n%s", diff)
	}
}

// TestMatchAgreesWithOSVScannerOnCycloneDX does the same for a CycloneDX
// SBOM given as sbom:FILE.
func TestMatchAgreesWithOSVScannerOnCycloneDX(t *testing.T) {
	res := scanTarget(t, pull.Target{Kind: pull.SBOMFile, Ref: "testdata/goapp.cdx.json", Input: "sbom:testdata/goapp.cdx.json"}, "Go")
	var got []string
	for _, f := range res.Findings {
		for _, id := range f.IDs {
			got = append(got, f.Package.Name+" "+id)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff(readGolden(t, "osv-scanner-goapp-cdx.golden"), got); diff != "" {
		t.Errorf("findings differ from osv-scanner's (-osv-scanner +customs):\n%s", diff)
	}
}

// TestPackagesFromPURLs checks the ecosystem, name and version each kind of
// package is looked up by.
func TestPackagesFromPURLs(t *testing.T) {
	for _, tc := range []struct {
		purl string
		want Package
		ok   bool
	}{
		{"pkg:golang/github.com/tidwall/gjson@v1.6.5", Package{Name: "github.com/tidwall/gjson", Version: "1.6.5", Ecosystem: "Go"}, true},
		{"pkg:golang/stdlib@go1.19.1", Package{Name: "stdlib", Version: "1.19.1", Ecosystem: "Go"}, true},
		{"pkg:golang/example.com/app@(devel)", Package{}, false},
		{"pkg:pypi/django@2.2.0", Package{Name: "django", Version: "2.2.0", Ecosystem: "PyPI"}, true},
		{"pkg:npm/%40babel/core@7.0.0", Package{Name: "@babel/core", Version: "7.0.0", Ecosystem: "npm"}, true},
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Ecosystem: "Maven"}, true},
		{"pkg:cargo/smallvec@1.6.0", Package{Name: "smallvec", Version: "1.6.0", Ecosystem: "crates.io"}, true},
		{"pkg:gem/rack@2.0.0", Package{Name: "rack", Version: "2.0.0", Ecosystem: "RubyGems"}, true},
		{"pkg:nuget/Newtonsoft.Json@12.0.1", Package{Name: "Newtonsoft.Json", Version: "12.0.1", Ecosystem: "NuGet"}, true},
		{"pkg:composer/laravel/framework@8.0.0", Package{Name: "laravel/framework", Version: "8.0.0", Ecosystem: "Packagist"}, true},
		{"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12", Package{Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"}, true},
		{"pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&epoch=1&upstream=zlib&distro=debian-12", Package{Name: "zlib", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12"}, true},
		{"pkg:deb/ubuntu/bash@5.1-6ubuntu1?distro=ubuntu-22.04", Package{Name: "bash", Version: "5.1-6ubuntu1", Ecosystem: "Ubuntu:22.04:LTS"}, true},
		{"pkg:deb/ubuntu/bash@5.2-1ubuntu1?distro=ubuntu-23.10", Package{Name: "bash", Version: "5.2-1ubuntu1", Ecosystem: "Ubuntu:23.10"}, true},
		{"pkg:deb/debian/bash@5.2.15-2?distro=debian-bookworm", Package{Name: "bash", Version: "5.2.15-2", Ecosystem: "Debian:12"}, true},
		{"pkg:deb/debian/bash@5.2.15-2?distro=debian-12.5", Package{Name: "bash", Version: "5.2.15-2", Ecosystem: "Debian:12"}, true},
		{"pkg:deb/debian/bash@5.2.15-2", Package{}, false},
		{"pkg:apk/wolfi/glibc@2.39-r1", Package{Name: "glibc", Version: "2.39-r1", Ecosystem: "Wolfi"}, true},
		{"pkg:rpm/redhat/openssl@3.0.7-1.el9", Package{}, false},
		{"pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&upstream=openssl&distro=alpine-3.19.1", Package{Name: "openssl", Version: "3.1.4-r5", Ecosystem: "Alpine:v3.19"}, true},
		{"pkg:generic/thing@1.0", Package{}, false},
	} {
		u, err := packageurl.FromString(tc.purl)
		if err != nil {
			t.Fatalf("%s: %v", tc.purl, err)
		}
		got, ok := fromPURL(u, tc.purl)
		got.PURL = ""
		if ok != tc.ok || ok && !cmp.Equal(got, tc.want) {
			t.Errorf("fromPURL(%s) = %+v, %v; want %+v, %v", tc.purl, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStdlibMatchesByGoVersion matches the standard library by the Go
// version a binary was built with.
func TestStdlibMatchesByGoVersion(t *testing.T) {
	db, err := Open(sharedDB(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Match(context.Background(), []Package{{Name: "stdlib", Version: "1.19.0", Ecosystem: "Go"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) < 10 {
		t.Errorf("stdlib 1.19.0 has %d findings; Go 1.19.0 has dozens of known vulnerabilities", len(res.Findings))
	}
	for _, f := range res.Findings {
		if f.ID == "GO-2022-0969" { // net/http HTTP/2 DoS fixed in 1.19.1
			return
		}
	}
	t.Errorf("GO-2022-0969 (fixed in Go 1.19.1) not reported for stdlib 1.19.0")
}

func must(pkgs []Package, _ []Unscanned) []Package { return pkgs }
