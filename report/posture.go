package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/result"
)

// postureStatus is a posture finding's status column.
func postureStatus(f result.PostureFinding) string {
	if f.Fails {
		return "FAILS"
	}
	return string(f.Status)
}

// postureWhere is where a finding is: the path, its line, and its layer.
func postureWhere(f result.PostureFinding) string {
	s := f.Path
	if f.Line > 0 {
		s += fmt.Sprintf(":%d", f.Line)
	}
	if f.Layer >= 0 {
		s += fmt.Sprintf(" (layer %d)", f.Layer)
	}
	return s
}

// postureSummary says in a line what kind of image it is.
func postureSummary(p *result.Posture) string {
	user := p.User
	if user == "" {
		user = "root (no USER)"
	}
	minimal := "not minimal (it has a shell or a package manager)"
	if p.Minimal {
		minimal = "minimal (no shell, no package manager)"
	}
	req := "none"
	if len(p.Required) > 0 {
		req = strings.Join(p.Required, ", ")
	}
	return fmt.Sprintf("posture: runs as %s; %s; %s in %s; required rules: %s", user, minimal, plural(p.Files, "file"), plural(p.Layers, "layer"), req)
}

// writePostureTable prints the posture section of the table.
func writePostureTable(w io.Writer, r *result.Result) error {
	p := r.Posture
	if p == nil {
		return nil
	}
	fmt.Fprintf(w, "\n%s\n", postureSummary(p))
	if len(p.Findings) == 0 {
		_, err := fmt.Fprintln(w, "(no posture findings)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tWHERE\tSTATUS\tDETAIL")
	for _, f := range p.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Rule, f.Severity, postureWhere(f), postureStatus(f), trim(f.Detail, 80))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(tw, "warning: %s\n", warn)
	}
	return tw.Flush()
}

// writePostureMarkdown writes the posture section of the markdown.
func writePostureMarkdown(w io.Writer, r *result.Result) {
	p := r.Posture
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\n#### Image posture\n\n%s\n\n", md(strings.TrimPrefix(postureSummary(p), "posture: ")))
	if len(p.Findings) == 0 {
		fmt.Fprintln(w, "No posture findings.")
		return
	}
	fmt.Fprintln(w, "| Rule | Severity | Where | Status | Detail | Fix |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, f := range p.Findings {
		status := string(f.Status)
		if f.Fails {
			status = "**fails**"
		}
		fmt.Fprintf(w, "| %s | %s | `%s` | %s | %s | %s |\n", f.Rule, f.Severity, md(postureWhere(f)), status, md(f.Detail), md(f.Fix))
	}
}

// postureRuleID is the SARIF rule of a posture rule.
func postureRuleID(id string) string { return "customs/posture/" + id }

// withPosture adds the posture findings to a SARIF run: one rule per
// posture rule, with its help, and one result per finding, located at the
// path in the image.
func withPosture(run *sarifRun, r *result.Result) {
	if r.Posture == nil {
		return
	}
	ruleIndex := map[string]int{}
	for _, f := range r.Posture.Findings {
		id := postureRuleID(f.Rule)
		idx, ok := ruleIndex[id]
		if !ok {
			idx = len(run.Tool.Driver.Rules)
			ruleIndex[id] = idx
			rule := posture.Rules[f.Rule]
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
				ID:               id,
				ShortDescription: sarifText{Text: rule.Title},
				FullDescription:  sarifText{Text: rule.Help},
				Help: sarifHelp{
					Text:     rule.Help + "\n\nFix: " + rule.Fix,
					Markdown: fmt.Sprintf("**%s**\n\n%s\n\n**Fix:** %s\n\nRequire it with `--require-posture %s`; ignore a finding with an entry `id: %s` (and `path:`) in `.customs.yaml`.", md(rule.Title), md(rule.Help), md(rule.Fix), rule.ID, rule.ID),
				},
				Properties: map[string]any{"security-severity": fmt.Sprintf("%.1f", severityScore(rule.Severity)), "tags": []string{"security", "image-posture"}},
			})
		}
		uri := "."
		if strings.HasPrefix(f.Path, "/") {
			uri = strings.TrimPrefix(f.Path, "/")
		}
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}}}
		if f.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
		}
		res := sarifResult{
			RuleID:     id,
			RuleIndex:  idx,
			Level:      level(f.Fails, f.Severity, ""),
			Message:    sarifText{Text: fmt.Sprintf("%s: %s at %s: %s", f.Severity, f.Title, postureWhere(f), f.Detail)},
			Locations:  []sarifLocation{loc},
			Properties: map[string]any{"layer": f.Layer, "layer_digest": f.LayerDigest, "path": f.Path, "fails": f.Fails},
		}
		if f.Ignore != nil {
			res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: f.Ignore.Reason}}
		}
		run.Results = append(run.Results, res)
	}
}

// postureJUnit are the posture findings as test cases: a failure for each
// that fails the scan, skipped for ignored ones.
func postureJUnit(r *result.Result) []junitCase {
	if r.Posture == nil {
		return nil
	}
	var out []junitCase
	for _, f := range r.Posture.Findings {
		c := junitCase{Name: fmt.Sprintf("%s at %s", f.Rule, postureWhere(f)), Classname: "posture." + f.Rule, Time: "0"}
		switch {
		case f.Fails:
			c.Failure = &junitFailure{Message: fmt.Sprintf("%s %s: %s", f.Severity, f.Title, f.Detail), Type: f.Rule, Text: "Fix: " + f.Fix}
		case f.Status != result.Affected:
			c.Skipped = &junitSkipped{Message: string(f.Status)}
		}
		out = append(out, c)
	}
	return out
}

// postureGitLab are the posture findings GitLab lists with the
// vulnerabilities; the location's file is the path in the image.
func postureGitLab(r *result.Result) []glVulnerability {
	if r.Posture == nil {
		return nil
	}
	var out []glVulnerability
	for _, f := range r.Posture.Findings {
		if f.Status != result.Affected {
			continue
		}
		out = append(out, glVulnerability{
			ID:          glID("posture", f.Rule, f.Path, fmt.Sprint(f.Layer), r.Target.Digest),
			Name:        f.Title,
			Description: f.Detail + ". " + posture.Rules[f.Rule].Help,
			Severity:    glSeverity(f.Severity),
			Solution:    f.Fix,
			Identifiers: []glIdentifier{{Type: "customs_posture", Name: "customs posture " + f.Rule, Value: f.Rule}},
			Location:    glLocation{File: f.Path, Dependency: glDependency{Package: glPackage{Name: "image posture"}, Version: orDash(r.Target.Digest)}},
		})
	}
	return out
}

// postureVEX states the posture findings as OpenVEX does vulnerabilities:
// the weakness is named customs-posture/RULE, the product is the image and
// the subcomponent the file; the status is affected, and the action the
// fix (or the reason it was accepted).
func postureVEX(r *result.Result, product string) []vexStatement {
	if r.Posture == nil {
		return nil
	}
	var out []vexStatement
	for _, f := range r.Posture.Findings {
		p := vexProduct{ID: product}
		if strings.HasPrefix(f.Path, "/") {
			p.Subcomponents = []vexProduct{{ID: "file://" + f.Path}}
		}
		st := vexStatement{Vulnerability: vexVuln{Name: "customs-posture/" + f.Rule}, Products: []vexProduct{p}, Status: "affected",
			ImpactStatement: f.Title + " at " + postureWhere(f) + ": " + f.Detail, ActionStatement: f.Fix}
		if f.Ignore != nil {
			st.ActionStatement = "accepted: " + f.Ignore.Reason
		}
		out = append(out, st)
	}
	return out
}
