package report

import (
	"encoding/json"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/customs-dev/customs/capabilities"
)

// TestJUnit decodes the JUnit XML back: a failed test case per finding
// that fails the gate, skipped ones for ignored and suppressed findings,
// one per undeclared capability and one for the gate, with counts that
// agree. (JUnit's XSD is not available offline here; the test checks the
// structure Jenkins' and GitLab's readers need: testsuites > testsuite >
// testcase with name and classname, failure/skipped children, and counts.)
func TestJUnit(t *testing.T) {
	r := result(t)
	r.Capabilities = &capabilities.Report{Declared: "capabilities.txt", Violations: []capabilities.Violation{{Module: "example.com/evil", Capability: capabilities.Exec,
		Path: []capabilities.Frame{{Function: "example.com/evil.Do", Module: "example.com/evil", Pos: "evil.go:14"}, {Function: "os/exec.Command"}}}}}
	out := render(t, r, "junit")
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Skipped  int      `xml:"skipped,attr"`
		Suites   []struct {
			Name      string `xml:"name,attr"`
			Tests     int    `xml:"tests,attr"`
			Failures  int    `xml:"failures,attr"`
			Timestamp string `xml:"timestamp,attr"`
			Cases     []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if len(doc.Suites) != 1 || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`).MatchString(doc.Suites[0].Timestamp) {
		t.Fatalf("want one suite with an ISO 8601 timestamp:\n%s", out)
	}
	byName := map[string]string{}
	failures, skipped := 0, 0
	for _, c := range doc.Suites[0].Cases {
		if c.Name == "" || c.Classname == "" {
			t.Errorf("a test case without name or classname: %+v", c)
		}
		switch {
		case c.Failure != nil:
			failures++
			byName[c.Name] = "failed"
		case c.Skipped != nil:
			skipped++
			byName[c.Name] = "skipped: " + c.Skipped.Message
		default:
			byName[c.Name] = "passed"
		}
	}
	want := map[string]string{
		"GO-2021-0054 in github.com/tidwall/gjson 1.6.5": "failed",
		"GO-2021-0265 in github.com/tidwall/gjson 1.6.5": "skipped: not_affected",
		"GO-2021-0113 in golang.org/x/text 0.3.0":        "skipped: ignored",
		"example.com/evil EXEC":                          "failed",
		"gate (fail-on HIGH)":                            "failed",
	}
	for name, w := range want {
		if byName[name] != w {
			t.Errorf("%q: %q, want %q", name, byName[name], w)
		}
	}
	if doc.Tests != len(doc.Suites[0].Cases) || doc.Failures != failures || doc.Skipped != skipped || doc.Suites[0].Failures != failures {
		t.Errorf("counts: tests %d failures %d skipped %d; cases %d failed %d skipped %d", doc.Tests, doc.Failures, doc.Skipped, len(doc.Suites[0].Cases), failures, skipped)
	}
}

// TestGitLabReport checks the dependency scanning report against the
// fields GitLab's schema (15.2) requires; the published schema itself is
// not reachable offline, so this is the required subset, written from its
// documentation.
func TestGitLabReport(t *testing.T) {
	r := result(t)
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
