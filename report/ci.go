package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/vuln"
)

// JUnit XML, as CI systems that show tests read it (Jenkins, GitLab,
// Azure Pipelines, CircleCI): one test suite per scan; a test case per
// finding, failed when it fails the gate, skipped when ignored or
// suppressed; a test case per undeclared capability; and a test case for
// the gate itself.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
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

func writeJUnit(w io.Writer, r *scan.Result) error {
	s := junitSuite{Name: "customs scan " + r.Target.Input, Time: "0", Timestamp: r.Time.UTC().Format("2006-01-02T15:04:05")}
	for _, f := range r.Findings {
		c := junitCase{Name: fmt.Sprintf("%s in %s %s", f.ID, f.Package.Name, f.Package.Version), Classname: "vulnerabilities." + f.Package.Ecosystem, Time: "0"}
		switch {
		case f.Fails:
			c.Failure = &junitFailure{Message: fmt.Sprintf("%s %s: %s", f.Severity, f.ID, f.Summary), Type: f.Severity.String(),
				Text: fmt.Sprintf("%s (%s) affects %s %s; fixed in: %s\nIDs: %s", f.ID, f.Severity, f.Package.Name, f.Package.Version, fixed(f), ids(f))}
		case f.Status != scan.Affected:
			c.Skipped = &junitSkipped{Message: string(f.Status)}
		case f.Baseline == scan.Existing:
			c.Skipped = &junitSkipped{Message: "existing before the change (baseline)"}
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
	gate := junitCase{Name: "gate (fail-on " + r.Gate.FailOn + ")", Classname: "customs", Time: "0"}
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
	out := junitSuites{Name: "customs", Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Time: "0", Suites: []junitSuite{s}}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// GitLab's dependency scanning report (gl-dependency-scanning-report.json,
// schema 15.2.x), which merge request widgets and the vulnerability report
// read.
type glReport struct {
	Version         string             `json:"version"`
	Schema          string             `json:"schema"`
	Scan            glScan             `json:"scan"`
	Vulnerabilities []glVulnerability  `json:"vulnerabilities"`
	DependencyFiles []glDependencyFile `json:"dependency_files"`
}

type glScan struct {
	Analyzer  glTool   `json:"analyzer"`
	Scanner   glTool   `json:"scanner"`
	Type      string   `json:"type"`
	StartTime string   `json:"start_time"`
	EndTime   string   `json:"end_time"`
	Status    string   `json:"status"`
	Messages  []glNote `json:"messages,omitempty"`
}

type glNote struct {
	Level string `json:"level"`
	Value string `json:"value"`
}

type glTool struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Vendor  glVendor `json:"vendor"`
}

type glVendor struct {
	Name string `json:"name"`
}

type glVulnerability struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Severity    string         `json:"severity"`
	Solution    string         `json:"solution,omitempty"`
	Identifiers []glIdentifier `json:"identifiers"`
	Links       []glLink       `json:"links,omitempty"`
	Location    glLocation     `json:"location"`
}

type glIdentifier struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value string `json:"value"`
	URL   string `json:"url,omitempty"`
}

type glLink struct {
	URL string `json:"url"`
}

type glLocation struct {
	File       string       `json:"file"`
	Dependency glDependency `json:"dependency"`
}

type glDependency struct {
	Package glPackage `json:"package"`
	Version string    `json:"version"`
}

type glPackage struct {
	Name string `json:"name"`
}

type glDependencyFile struct {
	Path           string         `json:"path"`
	PackageManager string         `json:"package_manager"`
	Dependencies   []glDependency `json:"dependencies"`
}

// GitLabSchemaVersion is the version of GitLab's security report schema
// the dependency scanning report follows.
const GitLabSchemaVersion = "15.2.1"

func writeGitLab(w io.Writer, r *scan.Result) error {
	start := r.Time.UTC().Format("2006-01-02T15:04:05")
	rep := glReport{
		Version: GitLabSchemaVersion,
		Schema:  "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v" + GitLabSchemaVersion + "/dist/dependency-scanning-report-format.json",
		Scan: glScan{
			Analyzer: glTool{ID: "customs", Name: "customs", Version: orDash(r.Tool.Version), Vendor: glVendor{Name: "customs"}},
			Scanner:  glTool{ID: "customs", Name: "customs", Version: orDash(r.Tool.Version), Vendor: glVendor{Name: "customs"}},
			Type:     "dependency_scanning", StartTime: start, EndTime: r.Time.UTC().Add(time.Second).Format("2006-01-02T15:04:05"), Status: "success",
		},
		Vulnerabilities: []glVulnerability{},
		DependencyFiles: []glDependencyFile{},
	}
	for _, msg := range r.Warnings {
		rep.Scan.Messages = append(rep.Scan.Messages, glNote{Level: "warn", Value: msg})
	}
	files := map[string]*glDependencyFile{}
	var order []string
	for _, f := range r.Findings {
		if f.Status != scan.Affected {
			continue // ignored and VEX-suppressed findings are not vulnerabilities to triage
		}
		file := glFile(f)
		v := glVulnerability{
			// Stable across runs: GitLab tracks a vulnerability by it.
			ID:          glID(f.ID, f.Package.Name, f.Package.Version, file),
			Name:        f.ID,
			Description: f.Summary,
			Severity:    glSeverity(f.Severity),
			Location:    glLocation{File: file, Dependency: glDependency{Package: glPackage{Name: f.Package.Name}, Version: f.Package.Version}},
		}
		if len(f.Fixed) > 0 {
			v.Solution = "Upgrade " + f.Package.Name + " to " + strings.Join(f.Fixed, " or ")
		}
		for _, id := range append(append([]string{}, f.IDs...), f.Aliases...) {
			v.Identifiers = append(v.Identifiers, glIdentifierOf(id))
		}
		v.Links = []glLink{{URL: "https://osv.dev/vulnerability/" + f.ID}}
		rep.Vulnerabilities = append(rep.Vulnerabilities, v)
		if files[file] == nil {
			files[file] = &glDependencyFile{Path: file, PackageManager: glManager(f.Package.Ecosystem), Dependencies: []glDependency{}}
			order = append(order, file)
		}
		files[file].Dependencies = append(files[file].Dependencies, v.Location.Dependency)
	}
	rep.Vulnerabilities = append(rep.Vulnerabilities, postureGitLab(r)...)
	for _, f := range order {
		rep.DependencyFiles = append(rep.DependencyFiles, *files[f])
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func orDash(s string) string {
	if s == "" {
		return "devel"
	}
	return s
}

func glID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

// glFile is where the package was found, relative, as GitLab links it.
func glFile(f scan.Finding) string {
	for _, l := range f.Package.Locations {
		// "sha256:…:/usr/bin/app" for image layers.
		if i := strings.LastIndex(l, ":/"); strings.HasPrefix(l, "sha256:") && i > 0 {
			l = l[i+1:]
		}
		return strings.TrimPrefix(l, "/")
	}
	return "go.mod"
}

func glSeverity(s vuln.Severity) string {
	switch s {
	case vuln.Critical:
		return "Critical"
	case vuln.High:
		return "High"
	case vuln.Medium:
		return "Medium"
	case vuln.Low:
		return "Low"
	}
	return "Unknown"
}

func glIdentifierOf(id string) glIdentifier {
	typ := strings.ToLower(strings.SplitN(id, "-", 2)[0])
	url := "https://osv.dev/vulnerability/" + id
	switch typ {
	case "cve":
		url = "https://nvd.nist.gov/vuln/detail/" + id
	case "ghsa":
		url = "https://github.com/advisories/" + id
	}
	return glIdentifier{Type: typ, Name: id, Value: id, URL: url}
}

func glManager(ecosystem string) string {
	switch vuln.BaseEcosystem(ecosystem) {
	case "Go":
		return "go"
	case "npm":
		return "npm"
	case "PyPI":
		return "pip"
	case "Maven":
		return "maven"
	case "RubyGems":
		return "bundler"
	case "NuGet":
		return "nuget"
	case "Packagist":
		return "composer"
	case "crates.io":
		return "cargo"
	case "Debian", "Ubuntu":
		return "apt"
	case "Alpine":
		return "apk"
	}
	return strings.ToLower(ecosystem)
}
