package scan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// baseline answers whether a finding of the scan was already there.
type baseline struct {
	r *result.Result
	// findings maps package key → the IDs and aliases found for it.
	findings map[string][]string
	// versions maps package key → the versions the baseline had.
	versions map[string][]string
	// posture are the keys (rule and path) of its posture findings.
	posture map[string]bool
	// unreached are its findings (package key and ID) that the program
	// did not reach.
	unreached map[string]bool
	// levels are its findings' reachability, by package key and ID.
	levels map[string]string
}

func newBaseline(r *result.Result) *baseline {
	b := &baseline{r: r, findings: map[string][]string{}, versions: map[string][]string{}, posture: map[string]bool{}, unreached: map[string]bool{}, levels: map[string]string{}}
	if r.Posture != nil {
		for _, f := range r.Posture.Findings {
			b.posture[f.Key()] = true
		}
	}
	for _, f := range r.Findings {
		k := result.PackageRef{Name: f.Package.Name, Ecosystem: f.Package.Ecosystem}.Key()
		b.findings[k] = append(append(b.findings[k], f.IDs...), f.Aliases...)
		if f.Reachability != "" {
			b.levels[k+"\x00"+f.ID] = f.Reachability
		}
		if f.Reachability != "" && !reach.Level(f.Reachability).Reached() {
			for _, id := range append(append([]string{}, f.IDs...), f.Aliases...) {
				b.unreached[k+"\x00"+id] = true
			}
		}
	}
	for _, p := range r.Packages.List {
		b.versions[p.Key()] = append(b.versions[p.Key()], p.Version)
	}
	return b
}

// existing: the baseline reported the vulnerability for the package, or
// had the package at the same version (an advisory published since is
// not the change's doing). A finding the program now reaches (level) that
// the baseline did not is new: the change made the call.
func (b *baseline) existing(f vuln.Finding, level reach.Level) bool {
	k := result.PackageRef{Name: f.Package.Name, Ecosystem: f.Package.Ecosystem}.Key()
	ids := append(append([]string{}, f.IDs...), f.Aliases...)
	if level.Reached() {
		for _, id := range ids {
			if b.unreached[k+"\x00"+id] {
				return false
			}
		}
	}
	for _, id := range b.findings[k] {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return slices.Contains(b.versions[k], f.Package.Version)
}

// level is the baseline's reachability of a finding, "" when it had none.
func (b *baseline) level(f vuln.Finding) string {
	return b.levels[result.PackageRef{Name: f.Package.Name, Ecosystem: f.Package.Ecosystem}.Key()+"\x00"+f.ID]
}

// fixed lists the baseline's findings the scan no longer has.
func (b *baseline) fixed(r *result.Result) []result.Finding {
	now := map[string][]string{}
	for _, f := range r.Findings {
		k := result.PackageRef{Name: f.Package.Name, Ecosystem: f.Package.Ecosystem}.Key()
		now[k] = append(append(now[k], f.IDs...), f.Aliases...)
	}
	out := []result.Finding{}
	for _, f := range b.r.Findings {
		k := result.PackageRef{Name: f.Package.Name, Ecosystem: f.Package.Ecosystem}.Key()
		still := false
		for _, id := range append(append([]string{}, f.IDs...), f.Aliases...) {
			if slices.Contains(now[k], id) {
				still = true
				break
			}
		}
		if !still {
			out = append(out, f)
		}
	}
	return out
}

// compareCapabilities holds what each module's code gained since the
// baseline: a gain fails, even when the change grants it in
// capabilities.txt, unless declared changes are allowed (then the
// declaration decides, as without a baseline).
func (j *job) compareCapabilities(r *result.Result, base *result.Result) {
	if r.CapabilityAnalysis == nil {
		return
	}
	if base.CapabilityAnalysis == nil {
		r.Warnings = append(r.Warnings, "the baseline has no capability analysis (it was made without a capabilities.txt): capability changes were not compared")
		return
	}
	r.CapabilityChanges = capabilities.Diff(base.CapabilityAnalysis, r.CapabilityAnalysis)
	r.DeclarationDiff = lineDiff(base.Declaration, r.Declaration)
	if j.AllowDeclaredChanges {
		return
	}
	var gained []string
	for _, c := range r.CapabilityChanges {
		if c.Added {
			gained = append(gained, c.Module+" "+string(c.Capability))
		}
	}
	if len(gained) > 0 {
		reason := fmt.Sprintf("%d capabilities gained since the baseline: %s", len(gained), strings.Join(gained, ", "))
		if r.DeclarationDiff != "" {
			reason += " (capabilities.txt changed in the same change; that is for a reviewer to accept: " + j.spell("allow-declared-changes") + ")"
		}
		r.Gate.Reasons = append(r.Gate.Reasons, reason)
		r.Gate.Passed = false
	}
}

// lineDiff is a unified-style diff of two texts ("" when equal): "-" for
// lines only in a, "+" for lines only in b, in order.
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(strings.TrimSuffix(a, "\n"), "\n"), strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	if a == "" {
		x = nil
	}
	if b == "" {
		y = nil
	}
	// Longest common subsequence; declarations are short.
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] > lcs[i+1][j]):
			out.WriteString("+" + y[j] + "\n")
			j++
		default:
			out.WriteString("-" + x[i] + "\n")
			i++
		}
	}
	return out.String()
}
