package result

import (
	"time"

	syftsbom "github.com/anchore/syft/syft/sbom"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/verify"
	"github.com/customs-dev/customs/vuln"
)

// SchemaVersion is the version of the JSON report (docs/report.schema.json).
const SchemaVersion = "1"

// Status says what became of a finding.
type Status string

// The statuses of a finding.
const (
	Affected    Status = "affected"     // counts against the gate
	Ignored     Status = "ignored"      // an ignore entry in force
	NotAffected Status = "not_affected" // a VEX statement
	Fixed       Status = "fixed"        // a VEX statement
)

// Finding is a vulnerability finding with what the policy made of it.
type Finding struct {
	vuln.Finding
	Status Status `json:"status"`
	// Fails is set when the finding fails the gate.
	Fails bool `json:"fails"`
	// Reachability is how far the program reaches a Go vulnerability
	// (reach.Level: called, unknown, imported, required, other_platform),
	// "" when it was not graded.
	Reachability string `json:"reachability,omitempty"`
	// ReachabilityPath is, for a called finding in Go source, a shortest
	// call path from an entry point to the vulnerable function, outermost
	// first.
	ReachabilityPath []capabilities.Frame `json:"reachability_path,omitempty"`
	// Baseline is "new" or "existing" when the scan had a baseline.
	Baseline string `json:"baseline,omitempty"`
	// Ignore is the entry that ignores it; VEX the statement that
	// suppresses it.
	Ignore *Ignore       `json:"ignore,omitempty"`
	VEX    *VEXStatement `json:"vex,omitempty"`
}

// Result is a whole scan: what every front end renders.
type Result struct {
	SchemaVersion string    `json:"schema_version"`
	Tool          Tool      `json:"tool"`
	Time          time.Time `json:"time"`
	Target        Target    `json:"target"`
	Packages      Packages  `json:"packages"`
	Database      Database  `json:"database"`
	Findings      []Finding `json:"findings"`
	Gate          Gate      `json:"gate"`
	// Duration is how long the scan took, in seconds, from Time, when it
	// started, to the verdict: CI reports show both.
	Duration float64 `json:"duration_seconds,omitempty"`
	// ExpiredIgnores stopped ignoring; UnusedIgnores matched nothing.
	ExpiredIgnores []Ignore `json:"expired_ignores,omitempty"`
	UnusedIgnores  []Ignore `json:"unused_ignores,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// Unscanned are the ecosystems of the target's packages that the
	// database has no data for, when the policy let the scan go on without
	// them (AllowUnscanned): their packages were not matched, and the gate
	// holds only what was. Packages that have no OSV ecosystem at all are
	// counted in Packages.UnscannedByType instead.
	Unscanned []UnscannedEcosystem `json:"unscanned,omitempty"`
	// Verification is what the trust policy made of the image, when one
	// was given.
	Verification *Verification `json:"verification,omitempty"`
	// Capabilities is the Go code held against capabilities.txt, when the
	// target is Go source with a declaration, or has Go executables and a
	// declaration was given.
	Capabilities *capabilities.Report `json:"capabilities,omitempty"`
	// CapabilityAnalysis is what each module's code can do, and
	// Declaration the capabilities.txt it was held against, so that a
	// later scan can use this report as its baseline.
	CapabilityAnalysis *capabilities.Result `json:"capability_analysis,omitempty"`
	Declaration        string               `json:"declaration,omitempty"`
	// Baseline is what the scan made of its baseline; CapabilityChanges
	// and DeclarationDiff are the capabilities gained and lost since, and
	// how capabilities.txt changed.
	Baseline          *BaselineSummary      `json:"baseline,omitempty"`
	CapabilityChanges []capabilities.Change `json:"capability_changes,omitempty"`
	DeclarationDiff   string                `json:"declaration_diff,omitempty"`
	// Posture is how the image is built, when it was checked.
	Posture *Posture `json:"posture,omitempty"`
	// SBOM is the target's SBOM, when the scan made it or NeedSBOM was set.
	SBOM *syftsbom.SBOM `json:"-"`
}

// UnscannedEcosystem is an ecosystem the database has no data for, and how
// many of the target's packages are of it.
type UnscannedEcosystem struct {
	Ecosystem string `json:"ecosystem"`
	Packages  int    `json:"packages"`
}

// Verification is the trust policy's verdict on the scanned image.
type Verification struct {
	verify.PolicyResult
	Passed bool `json:"passed"`
	// Check and Error say what failed.
	Check string `json:"check,omitempty"`
	Error string `json:"error,omitempty"`
}

// Tool names the scanner.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Target is what was scanned.
type Target struct {
	Input     string `json:"input"`
	Kind      string `json:"kind"`
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Platform  string `json:"platform,omitempty"`
}

// Packages summarizes the SBOM.
type Packages struct {
	Total int `json:"total"`
	// Matched are the packages with an OSV ecosystem that the database has
	// data for; those of the others are in Result.Unscanned.
	Matched     int            `json:"matched"`
	ByEcosystem map[string]int `json:"by_ecosystem"`
	// UnscannedByType counts the packages matching could not look up.
	UnscannedByType map[string]int `json:"unscanned_by_type,omitempty"`
	// Gaps are the distribution packages among them: OSV covers such
	// packages, so their vulnerabilities are unknown rather than absent.
	Gaps []vuln.Unscanned `json:"gaps,omitempty"`
	// List is every matched package, for baselines and diffs.
	List []PackageRef `json:"list,omitempty"`
}

// Database describes the vulnerability data used.
type Database struct {
	Dir        string    `json:"dir"`
	Revision   string    `json:"revision"`
	Ecosystems []string  `json:"ecosystems"`
	Newest     time.Time `json:"newest,omitempty"`
}

// Gate is the policy's verdict.
type Gate struct {
	FailOn          string   `json:"fail_on"`
	UnknownSeverity string   `json:"unknown_severity"`
	Passed          bool     `json:"passed"`
	Reasons         []string `json:"reasons,omitempty"`
}
