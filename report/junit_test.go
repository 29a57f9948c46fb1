package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/verify"
)

// junitDoc is what CI readers take from the JUnit XML.
type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name      string `xml:"name,attr"`
		Tests     int    `xml:"tests,attr"`
		Failures  int    `xml:"failures,attr"`
		Skipped   int    `xml:"skipped,attr"`
		Time      string `xml:"time,attr"`
		Timestamp string `xml:"timestamp,attr"`
		Cases     []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
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

// TestJUnit decodes the JUnit XML back: a failed test case per finding
// that fails the gate, skipped ones for ignored and suppressed findings,
// one per undeclared capability and one for the gate, with counts that
// agree, and the scan's duration.
func TestJUnit(t *testing.T) {
	r := sampleResult(t)
	r.Duration = 12.3456
	r.Capabilities = &capabilities.Report{Declared: "capabilities.txt", Violations: []capabilities.Violation{{Module: "example.com/evil", Capability: capabilities.Exec,
		Path: []capabilities.Frame{{Function: "example.com/evil.Do", Module: "example.com/evil", Pos: "evil.go:14"}, {Function: "os/exec.Command"}}}}}
	out := render(t, r, "junit")
	var doc junitDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if len(doc.Suites) != 1 || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`).MatchString(doc.Suites[0].Timestamp) {
		t.Fatalf("want one suite with an ISO 8601 timestamp:\n%s", out)
	}
	suite := doc.Suites[0]
	if suite.Time != "12.346" {
		t.Errorf("suite time = %q, want 12.346 (the scan's duration)", suite.Time)
	}
	byName := map[string]string{}
	failures, skipped := 0, 0
	for _, c := range suite.Cases {
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
		if c.Name == "gate (fail-on HIGH)" && c.Time != "12.346" {
			t.Errorf("gate time = %q, want the scan's 12.346", c.Time)
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
	if suite.Tests != len(suite.Cases) || suite.Failures != failures || suite.Skipped != skipped {
		t.Errorf("counts: tests %d failures %d skipped %d; cases %d failed %d skipped %d", suite.Tests, suite.Failures, suite.Skipped, len(suite.Cases), failures, skipped)
	}
}

// TestJUnitValidatesAgainstPublishedSchemas holds every kind of JUnit file
// customs writes against both schemas CI tools publish: the Ant JUnit.xsd
// and Surefire's junit-10.xsd.
func TestJUnitValidatesAgainstPublishedSchemas(t *testing.T) {
	xsds := junitSchemas(t)
	for name, r := range map[string]*result.Result{
		"failed": func() *result.Result {
			r := sampleResult(t)
			r.Duration = 3.5
			r.Warnings = []string{"the vulnerability data is 9d old"}
			return r
		}(),
		"capabilities": func() *result.Result {
			r := sampleResult(t)
			r.Capabilities = &capabilities.Report{Declared: "capabilities.txt", Violations: []capabilities.Violation{{Module: "example.com/evil", Capability: capabilities.Exec,
				Path: []capabilities.Frame{{Function: "example.com/evil.Do", Module: "example.com/evil", Pos: "evil.go:14"}, {Function: "os/exec.Command"}}}}}
			return r
		}(),
		"posture": withPostureFindings(sampleResult(t)),
		"reachability": func() *result.Result {
			r := sampleResult(t)
			for i := range r.Findings {
				r.Findings[i].Reachability, r.Findings[i].Fails = "required", false
			}
			return r
		}(),
		"unscanned ecosystem": func() *result.Result {
			r := sampleResult(t)
			r.Unscanned = []result.UnscannedEcosystem{{Ecosystem: "Debian", Packages: 4}}
			return r
		}(),
		"passed": func() *result.Result {
			r := sampleResult(t)
			r.Findings, r.Gate.Passed, r.Gate.Reasons = nil, true, nil
			r.Duration = 1234.5
			return r
		}(),
		"verification failed": func() *result.Result {
			r := sampleResult(t)
			r.Findings, r.Packages = []result.Finding{}, result.Packages{ByEcosystem: map[string]int{}}
			r.Gate.Reasons = []string{"signature verification failed: no signature found"}
			r.Verification = &result.Verification{Check: verify.CheckNoSignature, Error: "no signature found"}
			return r
		}(),
		"baseline": func() *result.Result {
			r := sampleResult(t)
			for i := range r.Findings {
				r.Findings[i].Baseline, r.Findings[i].Fails = result.Existing, false
			}
			r.Target.Reference, r.Target.Digest = "r.example/app:1", "sha256:"+strings.Repeat("ab", 32)
			return r
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			xmllint(t, xsds, render(t, r, "junit"))
		})
	}
}

// junitSchemas are the published JUnit XSDs beside the repository, and
// xmllint to hold documents against them.
func junitSchemas(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("skipping: xmllint is not installed (apt-get install libxml2-utils)")
	}
	dir := filepath.Join(testimage.Root(), "..", "shared", "testdata", "schemas")
	var out []string
	for _, name := range []string{"JUnit.xsd", "junit-10.xsd"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("skipping: the published JUnit schema is not at %s (see ../shared/testdata/README.md)", path)
		}
		out = append(out, path)
	}
	return out
}

func xmllint(t *testing.T, xsds []string, doc []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, xsd := range xsds {
		if out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", xsd, file).CombinedOutput(); err != nil {
			t.Errorf("xmllint --schema %s: %v\n%s\n%s", filepath.Base(xsd), err, out, doc)
		}
	}
}

// TestJUnitReachability: a finding the program does not reach is a
// skipped case that says so.
func TestJUnitReachability(t *testing.T) {
	r := sampleResult(t)
	for i := range r.Findings {
		if r.Findings[i].Status == result.Affected {
			r.Findings[i].Reachability, r.Findings[i].Fails = "imported", false
		}
	}
	if doc := render(t, r, "junit"); !bytes.Contains(doc, []byte(`message="not reached (imported): `)) {
		t.Errorf("no skipped case for the finding not reached:\n%s", doc)
	}
}
