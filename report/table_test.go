package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// matched is the result of matching pkgs against the OSV records in
// testdata/osv-table, gated at HIGH with findings of unknown severity
// passing (as --unknown-severity pass would; the default gate fails
// them), so that the table shows affected rows that do not fail. The
// records are modelled on real PYSEC, DSA and DLA records, trimmed and
// edited to the packages and releases the inputs need.
func matched(t *testing.T, input string, pkgs []vuln.Package) *result.Result {
	t.Helper()
	db, err := vuln.Open(filepath.Join("testdata", "osv-table"), vuln.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.Match(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	r := &result.Result{
		Time:     time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		Target:   result.Target{Input: input},
		Packages: result.Packages{Total: len(pkgs) + 1, Matched: len(pkgs)},
		Database: result.Database{Dir: "testdata/osv-table", Revision: "0123456789abcdef"},
		Gate:     result.Gate{FailOn: "HIGH", Passed: true},
	}
	high := 0
	for _, f := range m.Findings {
		sf := result.Finding{Finding: f, Status: result.Affected, Fails: f.Severity >= vuln.High}
		if sf.Fails {
			high++
		}
		r.Findings = append(r.Findings, sf)
	}
	if high > 0 {
		r.Gate.Passed = false
		r.Gate.Reasons = []string{plural(high, "finding") + " at or above HIGH"}
	}
	return r
}

// tableInputs are a Go module scan, PyPI packages whose PYSEC records have
// details but no summary and fixes in git commits, and Debian packages
// found in an image's layers.
func tableInputs(t *testing.T) map[string]*result.Result {
	return map[string]*result.Result{
		"go": sampleResult(t),
		"pypi": matched(t, "sbom:requirements.cdx.json", []vuln.Package{
			{Name: "requests", Version: "2.19.1", Ecosystem: "PyPI", Locations: []string{"/app/requirements.txt"}},
			{Name: "urllib3", Version: "1.26.4", Ecosystem: "PyPI", Locations: []string{"/app/requirements.txt", "/app/requirements-dev.txt"}},
		}),
		"debian": matched(t, "registry.example/app:1.0", []vuln.Package{
			{Name: "openssl", Version: "3.0.8-1", Ecosystem: "Debian:12", Locations: []string{"sha256:1b2c3d4e5f60718293a4b5c6d7e8f9010203040506070809a0b0c0d0e0f10111:/var/lib/dpkg/status"}},
			{Name: "zlib", Version: "1:1.2.12.dfsg-1", Ecosystem: "Debian:12", Locations: []string{"sha256:1b2c3d4e5f60718293a4b5c6d7e8f9010203040506070809a0b0c0d0e0f10111:/var/lib/dpkg/status"}},
		}),
	}
}

// TestTableGolden renders the table of each input, plain as in a file or
// CI log, and coloured as on a terminal (go test -update rewrites them).
func TestTableGolden(t *testing.T) {
	for name, r := range tableInputs(t) {
		for suffix, opts := range map[string]TableOptions{"": {}, ".color": {Color: true}} {
			var buf bytes.Buffer
			if err := WriteTable(&buf, r, opts); err != nil {
				t.Fatalf("WriteTable(%s): %v", name, err)
			}
			path := filepath.Join("testdata", "table-"+name+suffix+".golden")
			if *update {
				os.WriteFile(path, buf.Bytes(), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", path, diff)
			}
		}
	}
}

func TestFixedVersions(t *testing.T) {
	for _, tt := range []struct {
		eco   string
		fixed []string
		want  []string
	}{
		{"PyPI", []string{"74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5", "2.31.0"}, []string{"2.31.0"}},
		{"PyPI", []string{"1.26.5", "1.25.11", "1.9.0"}, []string{"1.9.0", "1.25.11", "1.26.5"}},
		{"Go", []string{"1.9.3", "1.10.0", "1.9.3", "master"}, []string{"1.9.3", "1.10.0"}},
		{"Debian:12", []string{"3.0.11-1~deb12u1", "3.0.9-1"}, []string{"3.0.9-1", "3.0.11-1~deb12u1"}},
		{"Go", []string{"2d4a3fe"}, []string{"-"}},
		{"Go", nil, []string{"-"}},
	} {
		f := result.Finding{Finding: vuln.Finding{Package: vuln.Package{Ecosystem: tt.eco}, Fixed: tt.fixed}}
		if got := fixedVersions(f); !cmp.Equal(got, tt.want) {
			t.Errorf("fixedVersions(%s %q) = %q, want %q", tt.eco, tt.fixed, got, tt.want)
		}
	}
}

func TestFirstSentence(t *testing.T) {
	for in, want := range map[string]string{
		"Requests is a HTTP library. Since 2.3.0 it leaks.": "Requests is a HTTP library.",
		"before 2.20.0 for Python sends\na header":          "before 2.20.0 for Python sends a header",
		"Ends here!": "Ends here!",
	} {
		if got := firstSentence(in); got != want {
			t.Errorf("firstSentence(%q) = %q, want %q", in, got, want)
		}
	}
}
