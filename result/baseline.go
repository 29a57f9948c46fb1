package result

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/vuln"
)

// What a finding is, against a baseline.
const (
	New      = "new"
	Existing = "existing"
)

// PackageRef names a package the scan matched, for baselines and diffs.
type PackageRef struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Ecosystem string `json:"ecosystem"`
	// Locations are where it was found, as vuln.Package has them: reports
	// that list dependencies by file (GitLab's) need them.
	Locations []string `json:"locations,omitempty"`
}

// Key is the package's identity across versions: its base ecosystem and name.
func (p PackageRef) Key() string { return vuln.BaseEcosystem(p.Ecosystem) + "/" + p.Name }

// BaselineSummary is what a scan made of its baseline.
type BaselineSummary struct {
	// Source is the baseline report's target and time.
	Source string `json:"source"`
	// New and Existing count the findings; Fixed are the baseline's
	// findings the scan no longer has.
	New      int       `json:"new"`
	Existing int       `json:"existing"`
	Fixed    []Finding `json:"fixed"`
	// FailOnExisting is set when existing findings count against the gate.
	FailOnExisting bool `json:"fail_on_existing"`
}

// ErrInvalid marks a baseline report that cannot be used.
var ErrInvalid = errors.New("invalid baseline report")

// Read reads a customs JSON report, for example a baseline.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the report: %w", err)
	}
	return Parse(path, b)
}

// Parse parses a customs JSON report.
func Parse(source string, b []byte) (*Result, error) {
	if len(b) > 256<<20 {
		return nil, fmt.Errorf("%s: %w: larger than 256 MiB", source, ErrInvalid)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %v (write it with customs scan -o json=FILE)", source, ErrInvalid, err)
	}
	if r.SchemaVersion != SchemaVersion || r.Tool.Name != "customs" {
		return nil, fmt.Errorf("%s: %w: not a customs JSON report of schema %s (schema_version %q)", source, ErrInvalid, SchemaVersion, r.SchemaVersion)
	}
	return &r, nil
}

// Comparison is what changed from one scan (the base of a change) to
// another (its head): `customs diff`.
type Comparison struct {
	SchemaVersion string `json:"schema_version"`
	Base          Side   `json:"base"`
	Head          Side   `json:"head"`
	// Packages added, removed and changed in version.
	Added   []PackageRef    `json:"packages_added"`
	Removed []PackageRef    `json:"packages_removed"`
	Changed []PackageChange `json:"packages_changed"`
	// Introduced are the head's findings that are new against the base;
	// Fixed the base's findings the head no longer has.
	Introduced []Finding `json:"vulnerabilities_introduced"`
	Fixed      []Finding `json:"vulnerabilities_fixed"`
	// Capabilities gained and lost, module by module (direct), and how
	// capabilities.txt changed.
	CapabilitiesGained []capabilities.Change `json:"capabilities_gained"`
	CapabilitiesLost   []capabilities.Change `json:"capabilities_lost"`
	DeclarationDiff    string                `json:"declaration_diff,omitempty"`
	// Signature is set when the signature status changed.
	Signature *SignatureChange `json:"signature_change,omitempty"`
	// Reachability are the findings of both whose reachability changed
	// (a later commit calls a vulnerable function it only imported).
	Reachability []ReachabilityChange `json:"reachability_changed,omitempty"`
	// Passed is false when the change brings in what the policy fails:
	// Reasons say what.
	Passed  bool     `json:"passed"`
	Reasons []string `json:"reasons,omitempty"`
}

// ComparisonSchemaVersion is the version of the diff's JSON.
const ComparisonSchemaVersion = "1"

// Side names one of the two scans.
type Side struct {
	Input    string `json:"input"`
	Revision string `json:"revision,omitempty"`
	Digest   string `json:"digest,omitempty"`
}

// PackageChange is a package whose version changed.
type PackageChange struct {
	Name      string `json:"name"`
	Ecosystem string `json:"ecosystem"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// ReachabilityChange is a finding whose reachability changed.
type ReachabilityChange struct {
	ID      string `json:"id"`
	Package string `json:"package"`
	Version string `json:"version"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// SignatureChange is a change of the signature verdict.
type SignatureChange struct {
	Base string `json:"base"`
	Head string `json:"head"`
}
