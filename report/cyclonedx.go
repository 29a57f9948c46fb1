package report

import (
	"bytes"
	"fmt"
	"io"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// writeCycloneDX writes the SBOM as CycloneDX 1.6 with a vulnerabilities
// section that points at the affected components.
func writeCycloneDX(w io.Writer, r *result.Result) error {
	if r.SBOM == nil {
		return fmt.Errorf("the result carries no SBOM")
	}
	var buf bytes.Buffer
	if err := sbom.Encode(&buf, r.SBOM, "cyclonedx-json"); err != nil {
		return err
	}
	var bom cyclonedx.BOM
	if err := cyclonedx.NewBOMDecoder(&buf, cyclonedx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return err
	}
	refs := map[string]string{} // purl → bom-ref
	if bom.Components != nil {
		for _, c := range *bom.Components {
			if c.PackageURL != "" {
				refs[c.PackageURL] = c.BOMRef
			}
		}
	}
	var vulns []cyclonedx.Vulnerability
	for _, f := range r.Findings {
		ref := refs[f.Package.PURL]
		if ref == "" {
			ref = f.Package.PURL
		}
		v := cyclonedx.Vulnerability{
			BOMRef:      f.ID + "/" + ref,
			ID:          f.ID,
			Source:      &cyclonedx.Source{Name: "OSV", URL: "https://osv.dev/vulnerability/" + f.ID},
			Description: f.Summary,
			Affects:     &[]cyclonedx.Affects{{Ref: ref}},
			Ratings:     &[]cyclonedx.VulnerabilityRating{rating(f)},
		}
		var refsTo []cyclonedx.VulnerabilityReference
		for _, id := range append(f.IDs[1:], f.Aliases...) {
			refsTo = append(refsTo, cyclonedx.VulnerabilityReference{ID: id, Source: &cyclonedx.Source{Name: "OSV", URL: "https://osv.dev/vulnerability/" + id}})
		}
		if len(refsTo) > 0 {
			v.References = &refsTo
		}
		if len(f.Fixed) > 0 {
			v.Recommendation = "Upgrade " + f.Package.Name + " to " + fixed(f)
		}
		switch f.Status {
		case result.NotAffected:
			v.Analysis = &cyclonedx.VulnerabilityAnalysis{State: cyclonedx.IASNotAffected, Detail: f.VEX.Justification}
		case result.Fixed:
			v.Analysis = &cyclonedx.VulnerabilityAnalysis{State: cyclonedx.IASResolved}
		case result.Ignored:
			v.Analysis = &cyclonedx.VulnerabilityAnalysis{State: cyclonedx.IASExploitable, Response: &[]cyclonedx.ImpactAnalysisResponse{cyclonedx.IARWillNotFix}, Detail: "ignored: " + f.Ignore.Reason}
		case result.Affected:
			// What the program does not reach: its code is not reachable.
			if l := reach.Level(f.Reachability); f.Reachability != "" && !l.Reached() {
				v.Analysis = &cyclonedx.VulnerabilityAnalysis{State: cyclonedx.IASNotAffected, Justification: cyclonedx.IAJCodeNotReachable, Detail: notReached[l]}
			}
		}
		vulns = append(vulns, v)
	}
	if len(vulns) > 0 {
		bom.Vulnerabilities = &vulns
	}
	if c := r.Capabilities; c != nil {
		// CycloneDX has no place for capabilities: they go in the BOM's
		// properties, in customs' namespace.
		props := []cyclonedx.Property{
			{Name: "customs:capabilities:declared", Value: c.Declared},
			{Name: "customs:capabilities:passed", Value: fmt.Sprint(c.Passed())},
		}
		for _, v := range c.Violations {
			props = append(props, cyclonedx.Property{Name: "customs:capabilities:undeclared", Value: fmt.Sprintf("%s %s: %s", v.Module, v.Capability, capabilities.PathString(v.Path))})
		}
		if bom.Properties != nil {
			props = append(*bom.Properties, props...)
		}
		bom.Properties = &props
	}
	if p := r.Posture; p != nil {
		// Nor for how an image is built: the posture findings go in the
		// properties too, one per finding.
		props := []cyclonedx.Property{
			{Name: "customs:posture:minimal", Value: fmt.Sprint(p.Minimal)},
			{Name: "customs:posture:user", Value: p.User},
		}
		for _, f := range p.Findings {
			props = append(props, cyclonedx.Property{Name: "customs:posture:finding", Value: fmt.Sprintf("%s %s %s %s: %s", f.Rule, f.Severity, postureWhere(f), postureStatus(f), f.Detail)})
		}
		if bom.Properties != nil {
			props = append(*bom.Properties, props...)
		}
		bom.Properties = &props
	}
	return cyclonedx.NewBOMEncoder(w, cyclonedx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(&bom, cyclonedx.SpecVersion1_6)
}

func rating(f result.Finding) cyclonedx.VulnerabilityRating {
	sev := map[vuln.Severity]cyclonedx.Severity{
		vuln.Unknown: cyclonedx.SeverityUnknown, vuln.Low: cyclonedx.SeverityLow, vuln.Medium: cyclonedx.SeverityMedium,
		vuln.High: cyclonedx.SeverityHigh, vuln.Critical: cyclonedx.SeverityCritical,
	}[f.Severity]
	r := cyclonedx.VulnerabilityRating{Severity: sev}
	if f.Score > 0 {
		s := f.Score
		r.Score = &s
	}
	if len(f.Vectors) > 0 {
		r.Vector = f.Vectors[0]
		r.Method = cyclonedx.ScoringMethodCVSSv31
		if len(r.Vector) > 8 && r.Vector[:8] == "CVSS:4.0" {
			r.Method = cyclonedx.ScoringMethodCVSSv4
		} else if r.Vector[:8] == "CVSS:3.0" {
			r.Method = cyclonedx.ScoringMethodCVSSv3
		}
	}
	return r
}
