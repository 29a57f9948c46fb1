package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// step and done tell the front end that a step that may take seconds
// starts and ends, through the progress callback the pull options carry.
func (j *job) step(what string) {
	if j.Pull.Progress != nil {
		j.Pull.Progress(pull.Progress{What: what})
	}
}

func (j *job) done(what string) {
	if j.Pull.Progress != nil {
		j.Pull.Progress(pull.Progress{What: what, Finished: true})
	}
}

func (j *job) openDB() (*vuln.DB, error) {
	return vuln.Open(j.DB, vuln.Options{Cache: j.Cache, Logger: j.Logger, MaxRecordSize: j.MaxRecordSize})
}

func (j *job) evaluate(ctx context.Context, art *pull.Artifact, inv inventory, pos *posture.Report) (*result.Result, error) {
	pkgs := inv.Packages
	db := j.db
	if db == nil {
		j.step("opening the vulnerability database")
		var err error
		db, err = j.openDB()
		j.done("opening the vulnerability database")
		if err != nil {
			return nil, err
		}
	}
	// Match builds (or reads from the cache) the index of each ecosystem
	// on first use, which is most of a cold match's time.
	what := fmt.Sprintf("indexing the database and matching %d packages", len(pkgs))
	j.step(what)
	// A directory's executables are read while the database is matched.
	pre := j.prefetch(art, pkgs)
	m, err := db.Match(ctx, pkgs)
	j.dirBins = pre()
	j.done(what)
	// Without data for an ecosystem, its packages' vulnerabilities are
	// unknown: the scan stops, unless the policy accepts that and the rest
	// is matched as osv-scanner would, with the gap reported.
	var missing *vuln.MissingEcosystemError
	if errors.As(err, &missing) && j.Policy.AllowUnscanned {
		err = nil
	} else {
		missing = nil
	}
	if err != nil {
		return nil, err
	}
	r := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Tool:          result.Tool{Name: "customs", Version: j.SBOM.ToolVersion},
		Time:          j.start.UTC().Truncate(time.Second),
		Target:        target(art),
		Packages:      result.Packages{Total: inv.Total, Matched: len(pkgs), ByEcosystem: map[string]int{}},
		Database:      result.Database{Dir: j.DB, Revision: m.Revision, Ecosystems: db.Ecosystems()},
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
			r.Packages.List = append(r.Packages.List, result.PackageRef{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem})
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
			r.Unscanned = append(r.Unscanned, result.UnscannedEcosystem{Ecosystem: e, Packages: missing.Packages[e]})
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
		if age := j.start.Sub(newest); j.Policy.WarnDBAge > 0 && age > j.Policy.WarnDBAge {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the vulnerability data is %s old (newest record %s): run `customs db update`", roundAge(age), newest.Format("2006-01-02")))
		}
	}
	var base *baseline
	if j.Baseline != nil {
		base = newBaseline(j.Baseline)
	}
	g := j.grade(ctx, art, m.Findings, m.Revision)
	if g.warning != "" {
		r.Warnings = append(r.Warnings, g.warning)
	}
	apply(r, m.Findings, g, pos, j.Policy, j.start, base, j.FailOnExisting, j.spell)
	if base != nil {
		r.Baseline = &result.BaselineSummary{
			Source:         fmt.Sprintf("%s (%s)", j.Baseline.Target.Input, j.Baseline.Time.Format(time.RFC3339)),
			Fixed:          base.fixed(r),
			FailOnExisting: j.FailOnExisting,
		}
		for _, f := range r.Findings {
			if f.Baseline == result.New {
				r.Baseline.New++
			} else {
				r.Baseline.Existing++
			}
		}
	}
	if gaps := r.Packages.Gaps; len(gaps) > 0 {
		msg := fmt.Sprintf("%d distribution package(s) could not be matched (%s), so their vulnerabilities are unknown", len(gaps), gapSummary(gaps))
		if j.Policy.AllowUnscanned {
			r.Warnings = append(r.Warnings, msg)
		} else {
			r.Gate.Reasons = append(r.Gate.Reasons, msg+" (accept that with "+j.spell("allow-unscanned")+")")
			r.Gate.Passed = false
		}
	}
	if max := j.Policy.MaxDBAge; max > 0 && !r.Database.Newest.IsZero() && j.start.Sub(r.Database.Newest) > max {
		r.Gate.Reasons = append(r.Gate.Reasons, fmt.Sprintf("the vulnerability data is older than the maximum age %s: run `customs db update`", max))
		r.Gate.Passed = false
	}
	if err := j.checkCapabilities(ctx, art, r); err != nil {
		return nil, err
	}
	if j.Baseline != nil {
		j.compareCapabilities(r, j.Baseline)
	}
	if !r.Gate.Passed {
		return r, &PolicyError{Reasons: r.Gate.Reasons}
	}
	return r, nil
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

func target(a *pull.Artifact) result.Target {
	t := result.Target{Input: a.Target.Input, Kind: a.Target.Kind.String(), Reference: a.Reference}
	if a.Target.Kind.IsImage() {
		t.Digest = a.Digest.String()
	}
	if a.Platform != nil {
		t.Platform = a.Platform.String()
	}
	return t
}
