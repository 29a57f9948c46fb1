package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// GitLab's dependency scanning report (gl-dependency-scanning-report.json,
// schema 15.2.x), which merge request widgets and the vulnerability report
// read. Its dependency_files, which schema 15 no longer describes but still
// admits, are the dependency list GitLab releases before the CycloneDX one
// read: every package of each file once, vulnerable or not.
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

func writeGitLab(w io.Writer, r *result.Result) error {
	const layout = "2006-01-02T15:04:05"
	end := r.Time.Add(time.Duration(r.Duration * float64(time.Second)))
	rep := glReport{
		Version: GitLabSchemaVersion,
		Schema:  "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v" + GitLabSchemaVersion + "/dist/dependency-scanning-report-format.json",
		Scan: glScan{
			Analyzer: glTool{ID: "customs", Name: "customs", Version: orDash(r.Tool.Version), Vendor: glVendor{Name: "customs"}},
			Scanner:  glTool{ID: "customs", Name: "customs", Version: orDash(r.Tool.Version), Vendor: glVendor{Name: "customs"}},
			Type:     "dependency_scanning", StartTime: r.Time.UTC().Format(layout), EndTime: end.UTC().Format(layout), Status: "success",
		},
		Vulnerabilities: []glVulnerability{},
		DependencyFiles: []glDependencyFile{},
	}
	for _, msg := range r.Warnings {
		rep.Scan.Messages = append(rep.Scan.Messages, glNote{Level: "warn", Value: msg})
	}
	fallback := glFallback(r.Target)
	for _, f := range r.Findings {
		if f.Status != result.Affected {
			continue // ignored and VEX-suppressed findings are not vulnerabilities to triage
		}
		file := glPaths(f.Package.Locations, fallback)[0]
		v := glVulnerability{
			// Stable across runs: GitLab tracks a vulnerability by it.
			ID:          glID(f.ID, f.Package.Name, f.Package.Version, file),
			Name:        f.ID,
			Description: glDescription(f),
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
	}
	rep.Vulnerabilities = append(rep.Vulnerabilities, postureGitLab(r)...)
	rep.DependencyFiles = glDependencyFiles(r, fallback)
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

// glDependencyFiles lists every package the scan matched under each file it
// was found in, once, sorted by file and package. A finding's package is
// listed even when the result has no package list (a report of an older
// customs read back as a baseline).
func glDependencyFiles(r *result.Result, fallback string) []glDependencyFile {
	type fileKey struct{ path, manager string }
	type depKey struct{ name, version string }
	files := map[fileKey]map[depKey]bool{}
	add := func(name, version, ecosystem string, locations []string) {
		for _, path := range glPaths(locations, fallback) {
			k := fileKey{path, glManager(ecosystem)}
			if files[k] == nil {
				files[k] = map[depKey]bool{}
			}
			files[k][depKey{name, version}] = true
		}
	}
	for _, p := range r.Packages.List {
		add(p.Name, p.Version, p.Ecosystem, p.Locations)
	}
	for _, f := range r.Findings {
		add(f.Package.Name, f.Package.Version, f.Package.Ecosystem, f.Package.Locations)
	}
	out := []glDependencyFile{}
	for k, deps := range files {
		df := glDependencyFile{Path: k.path, PackageManager: k.manager, Dependencies: []glDependency{}}
		for d := range deps {
			df.Dependencies = append(df.Dependencies, glDependency{Package: glPackage{Name: d.name}, Version: d.version})
		}
		sort.Slice(df.Dependencies, func(i, j int) bool {
			a, b := df.Dependencies[i], df.Dependencies[j]
			return a.Package.Name < b.Package.Name || a.Package.Name == b.Package.Name && a.Version < b.Version
		})
		out = append(out, df)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Path < out[j].Path || out[i].Path == out[j].Path && out[i].PackageManager < out[j].PackageManager
	})
	return out
}

// glPaths are the files a package was found in, relative, as GitLab links
// them, without the image layer ("sha256:…:/usr/bin/app"); the fallback
// when it records none.
func glPaths(locations []string, fallback string) []string {
	var out []string
	for _, l := range locations {
		if i := strings.LastIndex(l, ":/"); strings.HasPrefix(l, "sha256:") && i > 0 {
			l = l[i+1:]
		}
		if l = strings.TrimPrefix(l, "/"); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return []string{fallback}
	}
	return out
}

// glFallback is the file of packages whose SBOM says not where they were
// found: the target's path (the SBOM file, say).
func glFallback(t result.Target) string {
	p := t.Input
	if _, rest, ok := strings.Cut(p, ":"); ok && t.Kind != "registry" {
		p = rest
	}
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return "."
	}
	return p
}

func glSeverity(s vuln.Severity) string { return s.Title() }

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

// glDescription is the finding's summary, with how far the program
// reaches it when that was graded.
func glDescription(f result.Finding) string {
	if f.Reachability == "" {
		return f.Summary
	}
	d := f.Summary + " (reachability: " + f.Reachability
	if l := reach.Level(f.Reachability); !l.Reached() {
		d += ", " + notReached[l]
	}
	if len(f.ReachabilityPath) > 0 {
		d += ": " + capabilities.PathString(f.ReachabilityPath)
	}
	return d + ")"
}
