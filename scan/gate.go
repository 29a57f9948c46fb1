package scan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// apply sets each finding's status and the gate's verdict.
func apply(r *result.Result, findings []vuln.Finding, g graded, pos *posture.Report, p Policy, now time.Time, base *baseline, failOnExisting bool, spell func(string) string) {
	used := make([]bool, len(p.Ignores))
	expiredSeen := make([]bool, len(p.Ignores))
	r.Gate = result.Gate{FailOn: p.FailOn.String(), UnknownSeverity: unknownSeverity(p), Passed: true}
	counts := map[vuln.Severity]int{}
	for i, vf := range findings {
		f := result.Finding{Finding: vf, Status: result.Affected}
		if i < len(g.levels) {
			f.Reachability = string(g.levels[i])
		}
		if i < len(g.paths) {
			f.ReachabilityPath = g.paths[i]
		}
		ids := append(append([]string{}, vf.IDs...), vf.Aliases...)
		if ig := ignoreFor(p.Ignores, now, func(ig *result.Ignore) bool { return ignoreMatches(ig, ids, vf.Package.Name) }, used, expiredSeen); ig != nil {
			f.Status, f.Ignore = result.Ignored, ig
		}
		if f.Status == result.Affected {
			if st := vexFor(p.VEX, ids, vf.Package.PURL, r.Target); st != nil && (st.Status == "not_affected" || st.Status == "fixed") {
				f.Status, f.VEX = result.Status(st.Status), st
			}
		}
		if base != nil {
			f.Baseline = result.New
			if base.existing(vf, reach.Level(f.Reachability)) {
				f.Baseline = result.Existing
			}
		}
		if f.Status == result.Affected {
			f.Fails = vf.Severity >= p.FailOn || vf.Severity == vuln.Unknown && !p.UnknownSeverityPasses
			// Against a baseline, what was already there is not this
			// change's doing.
			if f.Baseline == result.Existing && !failOnExisting {
				f.Fails = false
			}
			// What the program does not reach is reported and passes,
			// unless the policy gates on every finding.
			if f.Reachability != "" && !reach.Level(f.Reachability).Reached() && p.Reachability != ReachReport {
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
			reason = fmt.Sprintf("%d finding(s) of UNKNOWN severity (pass them with %s pass)", counts[s], spell("unknown-severity"))
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
func ignoreFor(ignores []result.Ignore, now time.Time, match func(*result.Ignore) bool, used, expired []bool) *result.Ignore {
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

// ignoreMatches says whether an ignore entry names a finding: one of its
// IDs or aliases, and its package when the entry names one.
func ignoreMatches(ig *result.Ignore, ids []string, pkg string) bool {
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

func unknownSeverity(p Policy) string {
	if p.UnknownSeverityPasses {
		return "pass"
	}
	return "fail"
}
