package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/result"
)

// TestGitLabReport checks what GitLab reads of the dependency scanning
// report; TestGitLabValidatesAgainstPublishedSchema holds it against the
// schema.
func TestGitLabReport(t *testing.T) {
	r := sampleResult(t)
	out := render(t, r, "gitlab")
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(v any, path ...string) any {
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		}
		return v
	}
	timeRE := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)
	for _, tool := range []string{"analyzer", "scanner"} {
		for _, f := range []string{"id", "name", "version"} {
			if s, _ := get(doc, "scan", tool, f).(string); s == "" {
				t.Errorf("scan.%s.%s is missing", tool, f)
			}
		}
		if s, _ := get(doc, "scan", tool, "vendor", "name").(string); s == "" {
			t.Errorf("scan.%s.vendor.name is missing", tool)
		}
	}
	if get(doc, "scan", "type") != "dependency_scanning" || get(doc, "scan", "status") != "success" || get(doc, "version") != GitLabSchemaVersion ||
		!timeRE.MatchString(get(doc, "scan", "start_time").(string)) || !timeRE.MatchString(get(doc, "scan", "end_time").(string)) {
		t.Errorf("scan: %v", doc["scan"])
	}
	vulns, _ := doc["vulnerabilities"].([]any)
	if len(vulns) != 1 { // one affected; one ignored and one suppressed by VEX are not reported
		t.Fatalf("%d vulnerabilities, want 1:\n%s", len(vulns), out)
	}
	v := vulns[0]
	sev, _ := get(v, "severity").(string)
	if id, _ := get(v, "id").(string); id == "" || sev != "High" || get(v, "location", "dependency", "package", "name") != "github.com/tidwall/gjson" ||
		get(v, "location", "dependency", "version") != "1.6.5" || get(v, "location", "file") == "" {
		t.Errorf("vulnerability: %v", v)
	}
	ids, _ := get(v, "identifiers").([]any)
	if len(ids) < 2 {
		t.Errorf("identifiers: %v", ids)
	}
	for _, i := range ids {
		for _, f := range []string{"type", "name", "value"} {
			if s, _ := get(i, f).(string); s == "" {
				t.Errorf("identifier without %s: %v", f, i)
			}
		}
	}
	if files, _ := doc["dependency_files"].([]any); len(files) != 1 || get(files[0], "package_manager") != "go" {
		t.Errorf("dependency_files: %v", doc["dependency_files"])
	}
	if !strings.Contains(string(out), "dependency-scanning-report-format.json") {
		t.Error("the report does not name its schema")
	}
}

// TestGitLabValidatesAgainstPublishedSchema holds reports against GitLab's
// dependency scanning schema 15.2.1: a failing scan, one with posture
// findings and warnings, and a passing one.
func TestGitLabValidatesAgainstPublishedSchema(t *testing.T) {
	file := filepath.Join(testimage.Root(), "..", "shared", "testdata", "schemas", "dependency-scanning-report-format.json")
	if _, err := os.Stat(file); err != nil {
		t.Skipf("skipping: GitLab's published schema is not at %s (see ../shared/testdata/README.md)", file)
	}
	s := validator(t, "file:///dependency-scanning-report-format.json", map[string]string{"file:///dependency-scanning-report-format.json": file})
	failed := resultWith(t, "github.com/google/uuid v1.6.0")
	failed.Duration = 75.5
	posture := withPostureFindings(sampleResult(t))
	posture.Warnings = []string{"the vulnerability data is 9d old"}
	passed := sampleResult(t)
	passed.Findings, passed.Gate.Passed, passed.Gate.Reasons = nil, true, nil
	reached := sampleResult(t)
	for i := range reached.Findings {
		reached.Findings[i].Reachability = []string{"imported", "called"}[i%2]
	}
	for _, r := range []*result.Result{failed, posture, passed, reached} {
		validate(t, s, render(t, r, "gitlab"))
	}
	if doc := render(t, reached, "gitlab"); !bytes.Contains(doc, []byte("(reachability: ")) {
		t.Errorf("graded findings' descriptions do not say their reachability:\n%s", doc)
	}
}

// TestGitLabDependencyList: the dependency list has each package of each
// file once, vulnerable or not, however many findings it has; and the
// scan's times are its start and end.
func TestGitLabDependencyList(t *testing.T) {
	r := resultWith(t, "github.com/google/uuid v1.6.0")
	r.Duration = 75.5
	// More findings of one package, as Django has in a real project.
	for i := range 3 {
		f := r.Findings[0]
		f.ID = f.ID + "-" + string(rune('a'+i))
		r.Findings = append(r.Findings, f)
	}
	var doc struct {
		Scan struct {
			StartTime string `json:"start_time"`
			EndTime   string `json:"end_time"`
		} `json:"scan"`
		DependencyFiles []glDependencyFile `json:"dependency_files"`
	}
	if err := json.Unmarshal(render(t, r, "gitlab"), &doc); err != nil {
		t.Fatal(err)
	}
	want := []glDependencyFile{{Path: "go.mod", PackageManager: "go", Dependencies: []glDependency{
		{Package: glPackage{Name: "github.com/google/uuid"}, Version: "1.6.0"},
		{Package: glPackage{Name: "github.com/tidwall/gjson"}, Version: "1.6.5"},
		{Package: glPackage{Name: "golang.org/x/text"}, Version: "0.3.0"},
	}}}
	if diff := cmp.Diff(want, doc.DependencyFiles); diff != "" {
		t.Errorf("dependency_files (-want +got):\n%s", diff)
	}
	if doc.Scan.StartTime != "2026-11-22T12:00:00" || doc.Scan.EndTime != "2026-11-22T12:01:15" {
		t.Errorf("scan from %s to %s, want 2026-11-22T12:00:00 to 2026-11-22T12:01:15", doc.Scan.StartTime, doc.Scan.EndTime)
	}
}

// TestGitLabPaths: a package is listed under every file it was found in,
// without the image layer; one found nowhere, under the target.
func TestGitLabPaths(t *testing.T) {
	for _, tc := range []struct {
		locations []string
		want      []string
	}{
		{[]string{"/go.mod"}, []string{"go.mod"}},
		{[]string{"sha256:ab:/usr/bin/app", "sha256:cd:/usr/bin/app", "sha256:cd:/usr/bin/tool"}, []string{"usr/bin/app", "usr/bin/tool"}},
		{nil, []string{"app.cdx.json"}},
	} {
		if got := glPaths(tc.locations, glFallback(result.Target{Input: "sbom:app.cdx.json", Kind: "sbom"})); !cmp.Equal(got, tc.want) {
			t.Errorf("glPaths(%q) = %q, want %q", tc.locations, got, tc.want)
		}
	}
}
