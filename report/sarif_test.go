package report

import (
	"encoding/json"
	"testing"

	"github.com/customs-dev/customs/vuln"
)

// TestLevel: a SARIF result's level follows the gate, then the severity.
func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		fails bool
		sev   vuln.Severity
		want  string
	}{
		{true, vuln.Unknown, "error"},
		{true, vuln.Low, "error"},
		{true, vuln.Critical, "error"},
		{false, vuln.Critical, "warning"},
		{false, vuln.High, "warning"},
		{false, vuln.Medium, "warning"},
		{false, vuln.Low, "note"},
		{false, vuln.Unknown, "note"},
	} {
		if got := level(tc.fails, tc.sev, ""); got != tc.want {
			t.Errorf("level(%v, %s) = %q, want %q", tc.fails, tc.sev, got, tc.want)
		}
	}
	// A finding the program does not reach is a note whatever its
	// severity; a called one keeps the severity's level.
	for _, tc := range []struct {
		reach, want string
	}{{"imported", "note"}, {"required", "note"}, {"other_platform", "note"}, {"called", "warning"}, {"unknown", "warning"}} {
		if got := level(false, vuln.Critical, tc.reach); got != tc.want {
			t.Errorf("level(false, CRITICAL, %s) = %q, want %q", tc.reach, got, tc.want)
		}
	}
}

// TestSARIFLevelFollowsGate: the finding that fails the gate is an error
// even with its severity UNKNOWN (which fails by default), a HIGH one that
// VEX suppressed is a warning, and an ignored UNKNOWN one a note.
func TestSARIFLevelFollowsGate(t *testing.T) {
	r := sampleResult(t)
	for i, f := range r.Findings {
		switch f.ID {
		case "GO-2021-0054": // affected, fails
			r.Findings[i].Severity = vuln.Unknown
		case "GO-2021-0265": // not_affected by VEX
			r.Findings[i].Severity = vuln.High
		}
	}
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(render(t, r, "sarif"), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, res := range doc.Runs[0].Results {
		got[res.RuleID] = res.Level
	}
	want := map[string]string{"GO-2021-0054": "error", "GO-2021-0265": "warning", "GO-2021-0113": "note"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: level %q, want %q", id, got[id], w)
		}
	}
}
