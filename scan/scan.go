package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	syftsbom "github.com/anchore/syft/syft/sbom"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/verify"
	"github.com/customs-dev/customs/vuln"
)

// SchemaVersion is the version of the JSON report (docs/report.schema.json).
const SchemaVersion = "1"

// Options configure Run.
type Options struct {
	Pull pull.Options
	SBOM sbom.Options
	// DB is the vulnerability database directory; MaxRecordSize bounds
	// one of its records (0 is vuln.DefaultMaxRecordSize).
	DB            string
	MaxRecordSize int64
	// Policy is what the result is held against.
	Policy Policy
	// NeedSBOM keeps the whole SBOM in the result (for CycloneDX output);
	// otherwise a warm scan reads only the packages it matches.
	NeedSBOM bool
	// Trust, when set, is the trust policy a registry image must satisfy
	// before it is scanned; the digest it verified is the one scanned.
	Trust *verify.Policy
	// Capabilities, when set, is the declaration Go source (a dir: or
	// gomod: target) is held against; otherwise the target's own
	// capabilities.txt, if it has one.
	Capabilities *capabilities.File
	// CapabilitiesBuild is how the Go code is built for the analysis
	// (GOOS, GOARCH, tags).
	CapabilitiesBuild capabilities.Options
	// Baseline, when set, is a report of the same target before the change
	// (the base branch): findings it had, or of packages it had at the
	// same version, are existing, and only new ones count against the
	// gate unless FailOnExisting. Capabilities gained since it fail, even
	// when capabilities.txt grants them in the same change, unless
	// AllowDeclaredChanges.
	Baseline             *Result
	FailOnExisting       bool
	AllowDeclaredChanges bool
	// Posture checks how an image is built (its user, files and
	// secrets); the policy's posture requirements say which findings fail.
	Posture bool
	// Now is the clock (ignore expiry, database age); nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

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

// PolicyError is returned with a result that fails the policy: the CLI
// exits 1 for it, and 2 for every other error.
type PolicyError struct {
	Reasons []string
}

func (e *PolicyError) Error() string {
	return "the policy failed: " + strings.Join(e.Reasons, "; ")
}

// PolicyFailure marks the error as "the policy said no".
func (e *PolicyError) PolicyFailure() bool { return true }

// Run scans a target. It returns the result and, when the policy fails, a
// *PolicyError alongside it.
func Run(ctx context.Context, t pull.Target, opts Options) (res *Result, err error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	start := now()
	defer func() {
		if res != nil {
			res.Duration = math.Round(now().Sub(start).Seconds()*1000) / 1000
		}
	}()
	var ver *Verification
	// The reference the image was asked for by, before verification pins
	// it to a digest: the posture checks report a moving tag.
	ref := ""
	if t.Kind == pull.Registry {
		ref = t.Ref
	}
	if opts.Trust != nil {
		var failed *Result
		var err error
		t, ver, failed, err = verifyFirst(ctx, t, opts, start)
		if failed != nil || err != nil {
			return failed, err
		}
		// The trust policy's entry for the image may require posture rules.
		if e := opts.Trust.For(imageRepo(t.Ref)); e != nil && len(e.Posture) > 0 {
			opts.Policy.Posture = append(append([]PostureRequirement(nil), opts.Policy.Posture...),
				PostureRequirement{Require: e.Posture, Source: fmt.Sprintf("%s:%d", opts.Trust.Source, e.Line)})
		}
	}
	// Unless the SBOM's inventory is cached, syft's configuration is needed
	// next: it is made while the target is fetched and its key computed.
	sbom.Prepare()
	art, err := pull.Fetch(ctx, t, opts.Pull)
	if err != nil {
		return nil, err
	}
	defer art.Close()
	pos := newPostureRun(art, ref, opts)
	// Unless a report needs the whole SBOM, make the lighter one matching
	// needs.
	opts.SBOM.ForMatching = !opts.NeedSBOM
	// What matching needs of an SBOM is cached beside it, so that a warm
	// scan does not decode the whole SBOM unless a report needs it.
	key := sbom.CacheKey(art, opts.SBOM)
	if key != "" && opts.Pull.Cache != nil && !opts.NeedSBOM {
		if b, err := opts.Pull.Cache.Get(inventoryKind, key); err == nil {
			var inv inventory
			if json.Unmarshal(b, &inv) == nil {
				rep, err := pos.report(ctx, art, opts)
				if err != nil {
					return nil, err
				}
				return withVerification(ver)(evaluate(ctx, art, inv, rep, opts, start))
			}
		}
	}
	pos.hook(&opts)
	sopts := opts.SBOM
	sopts.Key = key
	s, err := sbom.Generate(ctx, art, sopts)
	if err != nil {
		return nil, fmt.Errorf("making the SBOM of %s: %w", t, err)
	}
	rep, err := pos.report(ctx, art, opts)
	if err != nil {
		return nil, err
	}
	inv := newInventory(s)
	if key != "" && opts.Pull.Cache != nil {
		if b, err := json.Marshal(inv); err == nil {
			opts.Pull.Cache.Put(inventoryKind, key, b)
		}
	}
	return withVerification(ver)(evaluate(ctx, art, inv, rep, opts, start))
}

// verifyFirst holds a registry image against the trust policy. On success
// it returns the target by the digest that verified, which is what is then
// scanned; on a failed check, a result that says so and the PolicyError.
func verifyFirst(ctx context.Context, t pull.Target, opts Options, now time.Time) (pull.Target, *Verification, *Result, error) {
	ref, ro, err := pull.Remote(ctx, t, opts.Pull)
	if err != nil {
		return t, nil, nil, err
	}
	pr, err := opts.Trust.Verify(ctx, ref, ro)
	var ce *verify.CheckError
	switch {
	case errors.As(err, &ce) && pr != nil:
		v := &Verification{PolicyResult: *pr, Check: ce.Check, Error: err.Error()}
		reason := "signature verification failed: " + err.Error()
		r := &Result{
			SchemaVersion: SchemaVersion,
			Tool:          Tool{Name: "customs", Version: opts.SBOM.ToolVersion},
			Time:          now.UTC().Truncate(time.Second),
			Target:        Target{Input: t.Input, Kind: t.Kind.String(), Reference: pr.Reference, Digest: pr.Digest},
			Packages:      Packages{ByEcosystem: map[string]int{}},
			Database:      Database{Dir: opts.DB, Ecosystems: []string{}},
			Findings:      []Finding{},
			Gate:          Gate{FailOn: opts.Policy.FailOn.String(), UnknownSeverity: unknownSeverity(opts.Policy), Reasons: []string{reason}},
			Verification:  v,
		}
		return t, v, r, &PolicyError{Reasons: r.Gate.Reasons}
	case err != nil:
		return t, nil, nil, err
	}
	t.Ref = pr.Reference
	return t, &Verification{PolicyResult: *pr, Passed: true}, nil, nil
}

func unknownSeverity(p Policy) string {
	if p.UnknownSeverityPasses {
		return "pass"
	}
	return "fail"
}

func withVerification(v *Verification) func(*Result, error) (*Result, error) {
	return func(r *Result, err error) (*Result, error) {
		if r != nil {
			r.Verification = v
		}
		return r, err
	}
}

// inventoryKind is the cache kind of inventories; it names their format.
const inventoryKind = "scan-packages-2"

// inventory is what matching needs of an SBOM.
type inventory struct {
	Total     int              `json:"total"`
	Packages  []vuln.Package   `json:"packages"`
	Unscanned []vuln.Unscanned `json:"unscanned"`
	sbom      *syftsbom.SBOM
}

func newInventory(s *syftsbom.SBOM) inventory {
	pkgs, unscanned := vuln.Packages(s)
	return inventory{Total: s.Artifacts.Packages.PackageCount(), Packages: pkgs, Unscanned: unscanned, sbom: s}
}

// Evaluate matches an SBOM against the database and applies the policy.
func Evaluate(ctx context.Context, art *pull.Artifact, s *syftsbom.SBOM, opts Options, now time.Time) (*Result, error) {
	return evaluate(ctx, art, newInventory(s), nil, opts, now)
}

// step and done tell the front end that a step that may take seconds
// starts and ends, through the progress callback the pull options carry.
func step(opts Options, what string) {
	if opts.Pull.Progress != nil {
		opts.Pull.Progress(pull.Progress{What: what})
	}
}

func done(opts Options, what string) {
	if opts.Pull.Progress != nil {
		opts.Pull.Progress(pull.Progress{What: what, Finished: true})
	}
}

func evaluate(ctx context.Context, art *pull.Artifact, inv inventory, pos *posture.Report, opts Options, now time.Time) (*Result, error) {
	pkgs := inv.Packages
	step(opts, "opening the vulnerability database")
	db, err := vuln.Open(opts.DB, vuln.Options{Cache: opts.Pull.Cache, Logger: opts.Logger, MaxRecordSize: opts.MaxRecordSize})
	done(opts, "opening the vulnerability database")
	if err != nil {
		return nil, err
	}
	// Match builds (or reads from the cache) the index of each ecosystem
	// on first use, which is most of a cold match's time.
	what := fmt.Sprintf("indexing the database and matching %d packages", len(pkgs))
	step(opts, what)
	m, err := db.Match(ctx, pkgs)
	done(opts, what)
	// Without data for an ecosystem, its packages' vulnerabilities are
	// unknown: the scan stops, unless the policy accepts that and the rest
	// is matched as osv-scanner would, with the gap reported.
	var missing *vuln.MissingEcosystemError
	if errors.As(err, &missing) && opts.Policy.AllowUnscanned {
		err = nil
	} else {
		missing = nil
	}
	if err != nil {
		return nil, err
	}
	r := &Result{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "customs", Version: opts.SBOM.ToolVersion},
		Time:          now.UTC().Truncate(time.Second),
		Target:        target(art),
		Packages:      Packages{Total: inv.Total, Matched: len(pkgs), ByEcosystem: map[string]int{}},
		Database:      Database{Dir: opts.DB, Revision: m.Revision, Ecosystems: db.Ecosystems()},
		Warnings:      append(append([]string(nil), art.Warnings...), m.Warnings...),
		SBOM:          inv.sbom,
	}
	seen := map[string]int{} // index in List by ecosystem, name and version
	for _, p := range pkgs {
		r.Packages.ByEcosystem[p.Ecosystem]++
		k := p.Ecosystem + "\x00" + p.Name + "\x00" + p.Version
		i, ok := seen[k]
		if !ok {
			i = len(r.Packages.List)
			seen[k] = i
			r.Packages.List = append(r.Packages.List, PackageRef{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem})
		}
		for _, l := range p.Locations {
			if !slices.Contains(r.Packages.List[i].Locations, l) {
				r.Packages.List[i].Locations = append(r.Packages.List[i].Locations, l)
			}
		}
	}
	sort.Slice(r.Packages.List, func(i, j int) bool {
		a, b := r.Packages.List[i], r.Packages.List[j]
		return a.Ecosystem+"/"+a.Name+"@"+a.Version < b.Ecosystem+"/"+b.Name+"@"+b.Version
	})
	for _, u := range inv.Unscanned {
		if r.Packages.UnscannedByType == nil {
			r.Packages.UnscannedByType = map[string]int{}
		}
		r.Packages.UnscannedByType[u.Type]++
		if u.Gap {
			r.Packages.Gaps = append(r.Packages.Gaps, u)
		}
	}
	if missing != nil {
		var parts []string
		n := 0
		for _, e := range missing.Ecosystems {
			r.Unscanned = append(r.Unscanned, UnscannedEcosystem{Ecosystem: e, Packages: missing.Packages[e]})
			parts = append(parts, fmt.Sprintf("%s (%d)", e, missing.Packages[e]))
			n += missing.Packages[e]
		}
		r.Packages.Matched -= n
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d package(s) not scanned: the OSV database in %s has no data for %s, so their vulnerabilities are unknown",
			n, missing.Dir, strings.Join(parts, ", ")))
	}
	// Nothing scanned (every package's ecosystem lacks data) has no data age.
	if newest, err := db.Newest(scannedEcosystems(pkgs, missing)); err == nil && !newest.IsZero() {
		r.Database.Newest = newest
		if age := now.Sub(newest); opts.Policy.WarnDBAge > 0 && age > opts.Policy.WarnDBAge {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the vulnerability data is %s old (newest record %s): run `customs db update`", roundAge(age), newest.Format("2006-01-02")))
		}
	}
	var base *baseline
	if opts.Baseline != nil {
		base = newBaseline(opts.Baseline)
	}
	apply(r, m.Findings, pos, opts.Policy, now, base, opts.FailOnExisting)
	if base != nil {
		r.Baseline = &BaselineSummary{
			Source:         fmt.Sprintf("%s (%s)", opts.Baseline.Target.Input, opts.Baseline.Time.Format(time.RFC3339)),
			Fixed:          base.fixed(r),
			FailOnExisting: opts.FailOnExisting,
		}
		for _, f := range r.Findings {
			if f.Baseline == New {
				r.Baseline.New++
			} else {
				r.Baseline.Existing++
			}
		}
	}
	if gaps := r.Packages.Gaps; len(gaps) > 0 {
		msg := fmt.Sprintf("%d distribution package(s) could not be matched (%s), so their vulnerabilities are unknown", len(gaps), gapSummary(gaps))
		if opts.Policy.AllowUnscanned {
			r.Warnings = append(r.Warnings, msg)
		} else {
			r.Gate.Reasons = append(r.Gate.Reasons, msg+" (accept that with --allow-unscanned)")
			r.Gate.Passed = false
		}
	}
	if max := opts.Policy.MaxDBAge; max > 0 && !r.Database.Newest.IsZero() && now.Sub(r.Database.Newest) > max {
		r.Gate.Reasons = append(r.Gate.Reasons, fmt.Sprintf("the vulnerability data is older than the maximum age %s: run `customs db update`", max))
		r.Gate.Passed = false
	}
	if err := checkCapabilities(ctx, art, opts, r); err != nil {
		return nil, err
	}
	if opts.Baseline != nil {
		compareCapabilities(r, opts.Baseline, opts)
	}
	if !r.Gate.Passed {
		return r, &PolicyError{Reasons: r.Gate.Reasons}
	}
	return r, nil
}

// DeclarationFile is the name of the declaration customs looks for at the
// root of Go source.
const DeclarationFile = "capabilities.txt"

// checkCapabilities holds Go source against its declaration: the one
// given, else the target's capabilities.txt. Targets that are not Go
// source have nothing to check, unless a declaration was given.
func checkCapabilities(ctx context.Context, art *pull.Artifact, opts Options, r *Result) error {
	decl := opts.Capabilities
	goSource := art.Dir != "" && art.Target.Kind == pull.GoModule
	if art.Dir != "" && art.Target.Kind == pull.Dir {
		_, err := os.Stat(filepath.Join(art.Dir, "go.mod"))
		goSource = err == nil
	}
	if decl == nil && goSource {
		b, err := os.ReadFile(filepath.Join(art.Dir, DeclarationFile))
		switch {
		case err == nil:
			if decl, err = capabilities.Parse(filepath.Join(art.Target.Input, DeclarationFile), b); err != nil {
				return err
			}
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("reading the declaration: %w", err)
		}
	}
	if decl == nil {
		return nil
	}
	var res *capabilities.Result
	if goSource {
		copts := opts.CapabilitiesBuild
		copts.Dir, copts.Logger = art.Dir, opts.Logger
		if art.Target.Kind == pull.GoModule && art.Module != nil {
			if err := capabilities.PrepareModule(&copts, art.Module.Path); err != nil {
				return err
			}
		}
		var err error
		if res, err = analyzeSource(ctx, art, copts, opts); err != nil {
			return fmt.Errorf("analysing the capabilities of %s: %w", art.Target.Input, err)
		}
	} else {
		// Images and directories of programs: what their compiled Go
		// executables call.
		var paths []string
		var err error
		if res, paths, err = binaryCapabilities(ctx, art, opts); err != nil {
			return err
		}
		if len(paths) == 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("no Go executable in %s: nothing was held against %s", art.Target.Input, decl.Name))
		} else {
			r.Warnings = append(r.Warnings, fmt.Sprintf("capabilities read from the compiled Go executables %s: direct calls only (calls through interfaces and function values are not seen; analyse the source for those)", strings.Join(paths, ", ")))
		}
	}
	rep := capabilities.Check(decl, res)
	r.Capabilities = rep
	r.CapabilityAnalysis, r.Declaration = res, string(decl.Format())
	if !rep.Passed() {
		r.Gate.Reasons = append(r.Gate.Reasons, fmt.Sprintf("%d capabilities are used but not declared in %s", len(rep.Violations), decl.Name))
		r.Gate.Passed = false
	}
	return nil
}

// sourceKind is the cache kind of source analyses; it names their format.
const sourceKind = "caps-source-1"

// analyzeSource analyses Go source, or reads the analysis of the same
// content (the directory's digest or the module version, with go.sum
// pinning the dependencies), build settings and Go release from the cache.
func analyzeSource(ctx context.Context, art *pull.Artifact, copts capabilities.Options, opts Options) (*capabilities.Result, error) {
	key := ""
	if k := sbom.CacheKey(art, opts.SBOM); k != "" && opts.Pull.Cache != nil {
		key = fmt.Sprintf("%s|%s/%s|%s|%s", k, copts.GOOS, copts.GOARCH, strings.Join(copts.Tags, ","), runtime.Version())
		if b, err := opts.Pull.Cache.Get(sourceKind, key); err == nil {
			var res capabilities.Result
			if json.Unmarshal(b, &res) == nil {
				return &res, nil
			}
		}
	}
	res, err := capabilities.Analyze(ctx, copts)
	if err != nil {
		return nil, err
	}
	if key != "" {
		if b, err := json.Marshal(res); err == nil {
			opts.Pull.Cache.Put(sourceKind, key, b)
		}
	}
	return res, nil
}

// gapSummary counts gaps by type and names a few: "rpm: 120, e.g. openssl 3.0.7".
func gapSummary(gaps []vuln.Unscanned) string {
	by := map[string]int{}
	for _, g := range gaps {
		by[g.Type]++
	}
	var parts []string
	for t, n := range by {
		parts = append(parts, fmt.Sprintf("%s: %d", t, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ") + fmt.Sprintf("; e.g. %s %s", gaps[0].Name, gaps[0].Version)
}

// scannedEcosystems are the base ecosystems of the packages, whose data
// ages matter, less those the database has no data for.
func scannedEcosystems(pkgs []vuln.Package, missing *vuln.MissingEcosystemError) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pkgs {
		b, _, _ := strings.Cut(p.Ecosystem, ":")
		if missing != nil && missing.Packages[b] > 0 {
			continue
		}
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

func roundAge(d time.Duration) string {
	if d > 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return d.Round(time.Hour).String()
}

func target(a *pull.Artifact) Target {
	t := Target{Input: a.Target.Input, Kind: a.Target.Kind.String(), Reference: a.Reference}
	if a.Target.Kind.IsImage() {
		t.Digest = a.Digest.String()
	}
	if a.Platform != nil {
		t.Platform = a.Platform.String()
	}
	return t
}

// apply sets each finding's status and the gate's verdict.
func apply(r *Result, findings []vuln.Finding, pos *posture.Report, p Policy, now time.Time, base *baseline, failOnExisting bool) {
	used := make([]bool, len(p.Ignores))
	expiredSeen := make([]bool, len(p.Ignores))
	r.Gate = Gate{FailOn: p.FailOn.String(), UnknownSeverity: unknownSeverity(p), Passed: true}
	counts := map[vuln.Severity]int{}
	for _, vf := range findings {
		f := Finding{Finding: vf, Status: Affected}
		ids := append(append([]string{}, vf.IDs...), vf.Aliases...)
		if ig := ignoreFor(p.Ignores, now, func(ig *Ignore) bool { return ig.matches(ids, vf.Package.Name) }, used, expiredSeen); ig != nil {
			f.Status, f.Ignore = Ignored, ig
		}
		if f.Status == Affected {
			if st := vexFor(p.VEX, ids, vf.Package.PURL, r.Target); st != nil && (st.Status == "not_affected" || st.Status == "fixed") {
				f.Status, f.VEX = Status(st.Status), st
			}
		}
		if base != nil {
			f.Baseline = New
			if base.existing(vf) {
				f.Baseline = Existing
			}
		}
		if f.Status == Affected {
			f.Fails = vf.Severity >= p.FailOn || vf.Severity == vuln.Unknown && !p.UnknownSeverityPasses
			// Against a baseline, what was already there is not this
			// change's doing.
			if f.Baseline == Existing && !failOnExisting {
				f.Fails = false
			}
			if f.Fails {
				counts[vf.Severity]++
			}
		}
		r.Findings = append(r.Findings, f)
	}
	var sevs []vuln.Severity
	for s := range counts {
		sevs = append(sevs, s)
	}
	sort.Slice(sevs, func(i, j int) bool { return sevs[i] > sevs[j] })
	for _, s := range sevs {
		reason := fmt.Sprintf("%d %s finding(s), at or above %s", counts[s], s, p.FailOn)
		if s == vuln.Unknown {
			reason = fmt.Sprintf("%d finding(s) of UNKNOWN severity (pass them with --unknown-severity pass)", counts[s])
		}
		r.Gate.Reasons = append(r.Gate.Reasons, reason)
	}
	if pos != nil {
		applyPosture(r, pos, p, now, base, failOnExisting, used, expiredSeen)
	}
	for i, ig := range p.Ignores {
		switch {
		case expiredSeen[i] && !used[i]:
			r.ExpiredIgnores = append(r.ExpiredIgnores, ig)
		case !used[i] && !expiredSeen[i]:
			r.UnusedIgnores = append(r.UnusedIgnores, ig)
		}
	}
	for _, ig := range r.ExpiredIgnores {
		r.Warnings = append(r.Warnings, fmt.Sprintf("ignore of %s (%s) expired on %s and no longer applies", ig.ID, ig.Source, ig.Until.Format("2006-01-02")))
	}
	for _, ig := range r.UnusedIgnores {
		r.Warnings = append(r.Warnings, fmt.Sprintf("ignore of %s (%s) matched no finding: remove it", ig.ID, ig.Source))
	}
	r.Gate.Passed = len(r.Gate.Reasons) == 0
}

// ignoreFor is the first ignore entry in force that matches a finding. It
// marks the entries it applies in used, and in expired those that matched
// but are past their date.
func ignoreFor(ignores []Ignore, now time.Time, match func(*Ignore) bool, used, expired []bool) *Ignore {
	for i := range ignores {
		ig := &ignores[i]
		if !match(ig) {
			continue
		}
		if !ig.Until.IsZero() && now.After(ig.Until.Time) {
			expired[i] = true
			continue
		}
		used[i] = true
		return ig
	}
	return nil
}

func (ig *Ignore) matches(ids []string, pkg string) bool {
	if ig.Package != "" && ig.Package != pkg {
		return false
	}
	for _, id := range ids {
		if strings.EqualFold(id, ig.ID) {
			return true
		}
	}
	return false
}
