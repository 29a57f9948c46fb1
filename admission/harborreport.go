package admission

import (
	"slices"
	"strings"
	"time"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// harborSeverity is Harbor's name of a severity.
func harborSeverity(s vuln.Severity) string { return s.Title() }

// harborVulnerabilityReport is a scan's result as Harbor shows it: every
// finding, with customs' own data (reachability, status, the gate, the
// posture checks, capabilities) in vendor_attributes.
func harborVulnerabilityReport(r *result.Result, a harborArtifact, sc harborScanner, ended time.Time) map[string]any {
	top := vuln.Unknown
	items := []map[string]any{}
	for _, f := range r.Findings {
		top = max(top, f.Severity)
		item := map[string]any{
			"id":          f.ID,
			"package":     f.Package.Name,
			"version":     f.Package.Version,
			"fix_version": strings.Join(f.Fixed, ", "),
			"severity":    harborSeverity(f.Severity),
			"description": description(f),
			"links":       links(f),
		}
		if cvss := preferredCVSS(f); len(cvss) > 0 {
			item["preferred_cvss"] = cvss
		}
		if cwes := cweIDs(f); len(cwes) > 0 {
			item["cwe_ids"] = cwes
		}
		attrs := map[string]any{"ids": f.IDs, "ecosystem": f.Package.Ecosystem, "status": f.Status, "fails": f.Fails, "locations": f.Package.Locations}
		if len(f.Aliases) > 0 {
			attrs["aliases"] = f.Aliases
		}
		if f.Reachability != "" {
			attrs["reachability"] = f.Reachability
		}
		if len(f.ReachabilityPath) > 0 {
			attrs["reachability_path"] = capabilities.PathString(f.ReachabilityPath)
		}
		item["vendor_attributes"] = attrs
		items = append(items, item)
	}
	vendor := map[string]any{"gate": r.Gate, "database_revision": r.Database.Revision, "digest": r.Target.Digest}
	if r.Posture != nil {
		vendor["posture"] = r.Posture
	}
	if r.Verification != nil {
		vendor["verification"] = r.Verification
	}
	if r.Capabilities != nil {
		vendor["capabilities"] = r.Capabilities
	}
	if len(r.Warnings) > 0 {
		vendor["warnings"] = r.Warnings
	}
	return map[string]any{
		"generated_at":      ended.UTC().Format(time.RFC3339),
		"artifact":          a,
		"scanner":           sc,
		"severity":          harborSeverity(top),
		"vulnerabilities":   items,
		"vendor_attributes": vendor,
	}
}

func description(f result.Finding) string {
	if f.Summary != "" {
		return f.Summary
	}
	for _, rec := range f.Records {
		if d := rec.GetDetails(); d != "" {
			return d
		}
	}
	return f.ID
}

// links are the finding's page on osv.dev and its records' references.
func links(f result.Finding) []string {
	out := []string{"https://osv.dev/vulnerability/" + f.ID}
	for _, rec := range f.Records {
		for _, ref := range rec.GetReferences() {
			if u := ref.GetUrl(); u != "" && len(out) < 10 && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// preferredCVSS is the finding's CVSS v3 score and vector, and v2's
// vector, when its records carry them.
func preferredCVSS(f result.Finding) map[string]any {
	out := map[string]any{}
	for _, v := range f.Vectors {
		switch {
		case strings.HasPrefix(v, "CVSS:3"):
			if _, ok := out["vector_v3"]; !ok {
				out["vector_v3"] = v
				if f.Score > 0 {
					out["score_v3"] = f.Score
				}
			}
		case strings.HasPrefix(v, "AV:"):
			out["vector_v2"] = v
		}
	}
	return out
}

// cweIDs are the CWE identifiers the records name (GitHub's
// database_specific.cwe_ids).
func cweIDs(f result.Finding) []string {
	var out []string
	for _, rec := range f.Records {
		for _, v := range rec.GetDatabaseSpecific().GetFields()["cwe_ids"].GetListValue().GetValues() {
			if s := v.GetStringValue(); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
