package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// debianRecord is a hand-written OSV record of a Debian 12 package that
// testimage.DpkgStatus installs.
const debianRecord = `{
  "schema_version": "1.6.0",
  "id": "DEBIAN-CVE-2099-0001",
  "modified": "2026-01-01T00:00:00Z",
  "summary": "test record for openssl",
  "affected": [{
    "package": {"ecosystem": "Debian:12", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]
  }]
}`

// withDebian is the demo database (Go records) plus debianRecord.
func withDebian(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	demo := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	matches, _ := filepath.Glob(filepath.Join(demo, "*.json"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(m)), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "DEBIAN-CVE-2099-0001.json"), []byte(debianRecord), 0o644)
	return dir
}

// TestEcosystemWithoutData scans Go and Debian packages on Go data only:
// the scan stops unless the policy allows unscanned packages; allowed, the
// Debian packages are reported unscanned, the Go ones are matched as on
// data that has Debian too, and the gate holds the Go findings.
func TestEcosystemWithoutData(t *testing.T) {
	s := &syftsbom.SBOM{}
	s.Artifacts.Packages = pkg.NewCollection(
		pkg.Package{Name: "github.com/tidwall/gjson", Version: "v1.6.5", Type: pkg.GoModulePkg, PURL: "pkg:golang/github.com/tidwall/gjson@v1.6.5"},
		pkg.Package{Name: "openssl", Version: "3.0.11-1~deb12u2", Type: pkg.DebPkg, PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"},
		pkg.Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Type: pkg.DebPkg, PURL: "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12&epoch=1"},
	)
	art := &pull.Artifact{Target: pull.Target{Kind: pull.SBOMFile, Input: "sbom:test.json"}}
	goOnly := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	evaluate := func(db string, allow bool) (*result.Result, error) {
		p := DefaultPolicy()
		p.WarnDBAge = 0
		p.AllowUnscanned = allow
		return (&Scanner{DB: db, Spell: flag}).Evaluate(context.Background(), art, s, Request{Policy: p}, now)
	}

	_, err := evaluate(goOnly, false)
	var merr *vuln.MissingEcosystemError
	if !errors.As(err, &merr) {
		t.Fatalf("Evaluate on Go data only = %v, want a *vuln.MissingEcosystemError", err)
	}

	got, err := evaluate(goOnly, true)
	var perr *PolicyError
	if !errors.As(err, &perr) {
		t.Fatalf("Evaluate on Go data only, unscanned allowed = %v, want the gjson finding to fail the gate", err)
	}
	if diff := cmp.Diff([]result.UnscannedEcosystem{{Ecosystem: "Debian", Packages: 2}}, got.Unscanned); diff != "" {
		t.Errorf("unscanned (-want +got):\n%s", diff)
	}
	if got.Packages.Matched != 1 {
		t.Errorf("matched = %d, want 1 (the Go module)", got.Packages.Matched)
	}
	if !contains(got.Warnings, "2 package(s) not scanned: the OSV database in "+goOnly+" has no data for Debian (2)") {
		t.Errorf("warnings = %q, want one about the Debian packages", got.Warnings)
	}

	full, err := evaluate(withDebian(t), false)
	if !errors.As(err, &perr) {
		t.Fatalf("Evaluate on Go and Debian data = %v, want a policy failure", err)
	}
	if full.Unscanned != nil {
		t.Errorf("unscanned on Go and Debian data = %v, want none", full.Unscanned)
	}
	if diff := cmp.Diff(findingsOf(full, "Go"), findingsOf(got, "Go")); diff != "" {
		t.Errorf("Go findings, and whether they fail the gate, differ from those on data with Debian (-with Debian +without):\n%s", diff)
	}
	if len(findingsOf(full, "Go")) == 0 || len(findingsOf(full, "Debian:12")) == 0 {
		t.Errorf("findings on data with Debian = %q, want Go and Debian ones: the comparison checks nothing", findingsOf(full, "Go"))
	}
	if got.Gate.Passed {
		t.Error("the gate passed without Debian data, with the Go findings failing it")
	}
}

func findingsOf(r *result.Result, ecosystem string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Package.Ecosystem == ecosystem {
			out = append(out, fmt.Sprintf("%s@%s %s %s %s fails=%v", f.Package.Name, f.Package.Version, f.ID, f.Status, f.Severity, f.Fails))
		}
	}
	return out
}

func contains(l []string, prefix string) bool {
	for _, s := range l {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
