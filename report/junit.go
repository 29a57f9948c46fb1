package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln/reach"
)

// JUnit XML, as CI systems that show tests read it (Jenkins, GitLab,
// Azure Pipelines, CircleCI): one test suite per scan; a test case per
// finding, failed when it fails the gate, skipped when ignored or
// suppressed; a test case per undeclared capability; and a test case for
// the gate itself.
//
// The document is valid against both published schemas: the Ant/Windy
// Road JUnit.xsd (testsuites without attributes; a testsuite with id,
// package and hostname, and properties, test cases, system-out and
// system-err in that order) and the Maven Surefire junit-10.xsd.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	Name       string          `xml:"name,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Time       string          `xml:"time,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Properties junitProperties `xml:"properties"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out"`
	SystemErr  string          `xml:"system-err"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// junitTime is seconds as both schemas take them: a decimal with at most
// three places (Surefire's pattern).
func junitTime(seconds float64) string {
	return strconv.FormatFloat(seconds, 'f', 3, 64)
}

func writeJUnit(w io.Writer, r *result.Result) error {
	s := junitSuite{
		Package: "customs",
		Name:    "customs scan " + r.Target.Input,
		// The result does not record the host it ran on; JUnit.xsd asks for
		// "localhost" then.
		Hostname:   "localhost",
		Timestamp:  r.Time.UTC().Format("2006-01-02T15:04:05"),
		Time:       junitTime(r.Duration),
		Properties: junitProperties{Property: junitProps(r)},
		SystemOut:  verdict(r),
		SystemErr:  strings.Join(r.Warnings, "\n"),
	}
	for _, f := range r.Findings {
		c := junitCase{Name: fmt.Sprintf("%s in %s %s", f.ID, f.Package.Name, f.Package.Version), Classname: "vulnerabilities." + f.Package.Ecosystem, Time: "0"}
		switch {
		case f.Fails:
			c.Failure = &junitFailure{Message: fmt.Sprintf("%s %s: %s", f.Severity, f.ID, f.Summary), Type: f.Severity.String(),
				Text: fmt.Sprintf("%s (%s) affects %s %s; fixed in: %s\nIDs: %s", f.ID, f.Severity, f.Package.Name, f.Package.Version, fixed(f), ids(f))}
			if len(f.ReachabilityPath) > 0 {
				c.Failure.Text += "\ncalled: " + capabilities.PathString(f.ReachabilityPath)
			}
		case f.Status != result.Affected:
			c.Skipped = &junitSkipped{Message: string(f.Status)}
		case f.Baseline == result.Existing:
			c.Skipped = &junitSkipped{Message: "existing before the change (baseline)"}
		case f.Reachability != "" && !reach.Level(f.Reachability).Reached():
			c.Skipped = &junitSkipped{Message: "not reached (" + f.Reachability + "): " + notReached[reach.Level(f.Reachability)]}
		}
		s.Cases = append(s.Cases, c)
	}
	if rep := r.Capabilities; rep != nil {
		for _, v := range rep.Violations {
			s.Cases = append(s.Cases, junitCase{Name: fmt.Sprintf("%s %s", v.Module, v.Capability), Classname: "capabilities", Time: "0",
				Failure: &junitFailure{Message: fmt.Sprintf("%s uses %s, which %s does not grant", v.Module, v.Capability, rep.Declared), Type: "undeclared capability",
					Text: capabilities.PathString(v.Path)}})
		}
	}
	s.Cases = append(s.Cases, postureJUnit(r)...)
	// An ecosystem the database has no data for (--allow-unscanned) is a
	// check that did not run: skipped, with its package count.
	for _, u := range r.Unscanned {
		s.Cases = append(s.Cases, junitCase{Name: fmt.Sprintf("%s: %d packages not scanned", u.Ecosystem, u.Packages), Classname: "vulnerabilities." + u.Ecosystem, Time: "0",
			Skipped: &junitSkipped{Message: "no vulnerability data for " + u.Ecosystem}})
	}
	// The checks are not timed one by one; the gate, which stands for the
	// whole scan, carries its duration, so that views that add up test case
	// times (GitLab's) show how long the scan took.
	gate := junitCase{Name: "gate (fail-on " + r.Gate.FailOn + ")", Classname: "customs", Time: junitTime(r.Duration)}
	if !r.Gate.Passed {
		gate.Failure = &junitFailure{Message: strings.Join(r.Gate.Reasons, "; "), Type: "policy"}
	}
	s.Cases = append(s.Cases, gate)
	for _, c := range s.Cases {
		s.Tests++
		if c.Failure != nil {
			s.Failures++
		}
		if c.Skipped != nil {
			s.Skipped++
		}
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return fmt.Errorf("encoding JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitProps say what was scanned, against what, and by which customs.
func junitProps(r *result.Result) []junitProperty {
	props := []junitProperty{
		{Name: "customs.version", Value: orDash(r.Tool.Version)},
		{Name: "target", Value: r.Target.Input},
		{Name: "target.kind", Value: r.Target.Kind},
	}
	for _, p := range []junitProperty{
		{Name: "target.reference", Value: r.Target.Reference},
		{Name: "target.digest", Value: r.Target.Digest},
		{Name: "target.platform", Value: r.Target.Platform},
		{Name: "database.revision", Value: r.Database.Revision},
	} {
		if p.Value != "" {
			props = append(props, p)
		}
	}
	return append(props, junitProperty{Name: "fail-on", Value: r.Gate.FailOn}, junitProperty{Name: "packages", Value: strconv.Itoa(r.Packages.Total)})
}
