package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// withPostureFindings adds a failing, an ignored and a plain posture
// finding to a result.
func withPostureFindings(r *result.Result) *result.Result {
	r.Posture = &result.Posture{User: "", Layers: 2, Files: 10, Required: []string{"miner", "secret"}, Findings: []result.PostureFinding{
		{Finding: posture.Finding{Rule: posture.Secret, Severity: vuln.Critical, Title: posture.Rules[posture.Secret].Title, Layer: 1, LayerDigest: "sha256:ab", Path: "/app/key.pem", Line: 1,
			Detail: "private-key (fingerprint sha256:0123456789ab)", Fix: posture.Rules[posture.Secret].Fix, SecretType: "private-key"}, Status: result.Affected, Fails: true},
		{Finding: posture.Finding{Rule: posture.AttackTool, Severity: vuln.Medium, Title: posture.Rules[posture.AttackTool].Title, Layer: 0, Path: "/usr/bin/curl", Detail: "curl on PATH", Fix: "remove it"},
			Status: result.Ignored, Ignore: &result.Ignore{ID: "attack-tool", Path: "/usr/bin/curl", Reason: "the health check uses it"}},
		{Finding: posture.Finding{Rule: posture.RootUser, Severity: vuln.Medium, Title: posture.Rules[posture.RootUser].Title, Layer: -1, Path: "config:User", Detail: "no USER is set", Fix: "USER 10001"}, Status: result.Affected},
	}}
	return r
}

func TestPostureInEveryFormat(t *testing.T) {
	r := withPostureFindings(sampleResult(t))
	s := validator(t, "file:///report.schema.json", map[string]string{"file:///report.schema.json": filepath.Join(testimage.Root(), "docs", "report.schema.json")})
	validate(t, s, render(t, r, "json"))
	for format, want := range map[string][]string{
		"table":          {"posture: runs as root (no USER); not minimal", "secret", "/app/key.pem:1 (layer 1)", "FAILS", "ignored"},
		"markdown":       {"#### Image posture", "| secret | CRITICAL | `/app/key.pem:1 (layer 1)` | **fails** |"},
		"sarif":          {`"id": "customs/posture/secret"`, "Rotate the credential now", `"uri": "app/key.pem"`, `"justification": "the health check uses it"`},
		"junit":          {`classname="posture.secret"`, "Fix: Rotate the credential"},
		"gitlab":         {`"value": "secret"`, `"file": "/app/key.pem"`},
		"cyclonedx-json": {`"customs:posture:finding"`, "secret CRITICAL /app/key.pem:1 (layer 1) FAILS"},
		"openvex":        {`"name": "customs-posture/secret"`, `"@id": "file:///app/key.pem"`, `"action_statement": "accepted: the health check uses it"`},
	} {
		out := string(render(t, r, format))
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s output does not contain %q:\n%s", format, w, out)
			}
		}
	}
	// The SARIF with posture rules is still SARIF 2.1.0.
	validate(t, sarifSchema(t), render(t, r, "sarif"))
}
