package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/result"
)

// debianRecord is a hand-written OSV record of a package that
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

// TestScanWithoutAnEcosystemsData scans an image of Debian packages and a
// Go executable on a database of Go records only. By default the scan
// stops (exit 2); with --allow-unscanned the Go packages are matched and
// gated as on a database that has Debian too, and every report lists the
// Debian packages as unscanned.
func TestScanWithoutAnEcosystemsData(t *testing.T) {
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	testimage.WriteLayout(t, layout, testimage.Image(t, "amd64", goappBinary(t)), nil, "1.0")
	target := "oci:" + layout
	goOnly := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	withDebian := filepath.Join(dir, "osv")
	os.Mkdir(withDebian, 0o755)
	demo, _ := filepath.Glob(filepath.Join(goOnly, "*.json"))
	for _, f := range demo {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(withDebian, filepath.Base(f)), b, 0o644)
	}
	os.WriteFile(filepath.Join(withDebian, "DEBIAN-CVE-2099-0001.json"), []byte(debianRecord), 0o644)
	env := cacheEnv(t)
	nDebian := len(testimage.Packages)

	_, stderr, code := customs(t, env, "scan", target, "--db", goOnly, "--db-warn-age", "0")
	for _, want := range []string{"has no data for Debian", "customs db update --ecosystem Debian", "--allow-unscanned"} {
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("scan on Go data only: exit %d, want 2 with %q:\n%s", code, want, stderr)
		}
	}

	out := func(format string) string { return filepath.Join(dir, "out."+format) }
	args := []string{"scan", target, "--db", goOnly, "--db-warn-age", "0", "--allow-unscanned"}
	for _, f := range []string{"table", "json", "sarif", "markdown", "junit", "gitlab"} {
		args = append(args, "-o", f+"="+out(f))
	}
	_, stderr, code = customs(t, env, args...)
	if code != 1 {
		t.Fatalf("scan on Go data only, --allow-unscanned: exit %d, want 1 (gjson's HIGH finding fails the gate):\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: "+strconv.Itoa(nDebian)+" package(s) not scanned") {
		t.Errorf("no warning of the unscanned Debian packages:\n%s", stderr)
	}
	got, err := result.Read(out("json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]result.UnscannedEcosystem{{Ecosystem: "Debian", Packages: nDebian}}, got.Unscanned); diff != "" {
		t.Errorf("JSON unscanned (-want +got):\n%s", diff)
	}
	for format, want := range map[string]string{
		"table":    "not scanned, no vulnerability data: Debian (" + strconv.Itoa(nDebian) + " packages)",
		"markdown": "Not scanned, no vulnerability data: Debian (" + strconv.Itoa(nDebian) + " packages)",
		"sarif":    `"text": "` + strconv.Itoa(nDebian) + ` Debian package(s) not scanned`,
		"junit":    `name="Debian: ` + strconv.Itoa(nDebian) + ` packages not scanned"`,
		"gitlab":   `has no data for Debian (` + strconv.Itoa(nDebian) + `)`,
	} {
		if b, _ := os.ReadFile(out(format)); !strings.Contains(string(b), want) {
			t.Errorf("%s report does not contain %q:\n%s", format, want, b)
		}
	}

	fullOut := filepath.Join(dir, "full.json")
	_, stderr, code = customs(t, env, "scan", target, "--db", withDebian, "--db-warn-age", "0", "-o", "json="+fullOut)
	if code != 1 {
		t.Fatalf("scan on Go and Debian data: exit %d, want 1:\n%s", code, stderr)
	}
	full, err := result.Read(fullOut)
	if err != nil {
		t.Fatal(err)
	}
	if full.Unscanned != nil {
		t.Errorf("unscanned on Go and Debian data = %v, want none", full.Unscanned)
	}
	if len(findings(full, "Go")) == 0 || len(findings(full, "Debian:12")) == 0 {
		t.Fatalf("findings on Go and Debian data: Go %q, Debian %q; want both, or the comparison checks nothing", findings(full, "Go"), findings(full, "Debian:12"))
	}
	if diff := cmp.Diff(findings(full, "Go"), findings(got, "Go")); diff != "" {
		t.Errorf("Go findings differ from those on data with Debian (-with Debian +without):\n%s", diff)
	}
	if len(findings(got, "Debian:12")) != 0 {
		t.Errorf("Debian findings without Debian data: %q", findings(got, "Debian:12"))
	}
}

// findings are a report's findings of an ecosystem, with what they do to
// the gate.
func findings(r *result.Result, ecosystem string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Package.Ecosystem == ecosystem {
			out = append(out, fmt.Sprintf("%s@%s %s %s %s fails=%v", f.Package.Name, f.Package.Version, f.ID, f.Status, f.Severity, f.Fails))
		}
	}
	return out
}
