package scan

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

func finding(id string, sev vuln.Severity, aliases ...string) vuln.Finding {
	return vuln.Finding{ID: id, IDs: []string{id}, Aliases: aliases, Severity: sev,
		Package: vuln.Package{Name: "example.com/lib", Version: "1.0.0", Ecosystem: "Go", PURL: "pkg:golang/example.com/lib@v1.0.0"}}
}

var imageHex = strings.Repeat("ab", 32)

// flag spells settings as the command line does.
func flag(setting string) string { return "--" + setting }

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func day(s string) result.Date {
	t, _ := time.Parse("2006-01-02", s)
	return result.Date{Time: t.Add(24*time.Hour - time.Nanosecond)}
}

// TestGate checks that the gate fails whenever it should; each case that
// passes says why it may.
func TestGate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		findings []vuln.Finding
		policy   func(*Policy)
		pass     bool
		reason   string // part of the first reason when failing
	}{
		{"no findings", nil, nil, true, ""},
		{"high fails at the default threshold", []vuln.Finding{finding("GO-1", vuln.High)}, nil, false, "1 HIGH"},
		{"critical fails at the default threshold", []vuln.Finding{finding("GO-1", vuln.Critical)}, nil, false, "1 CRITICAL"},
		{"medium passes at the default threshold", []vuln.Finding{finding("GO-1", vuln.Medium)}, nil, true, ""},
		{"medium fails with --fail-on medium", []vuln.Finding{finding("GO-1", vuln.Medium)}, func(p *Policy) { p.FailOn = vuln.Medium }, false, "1 MEDIUM"},
		{"low fails with --fail-on low", []vuln.Finding{finding("GO-1", vuln.Low)}, func(p *Policy) { p.FailOn = vuln.Low }, false, "1 LOW"},
		{"high passes with --fail-on critical", []vuln.Finding{finding("GO-1", vuln.High)}, func(p *Policy) { p.FailOn = vuln.Critical }, true, ""},
		{"unknown fails by default", []vuln.Finding{finding("GO-1", vuln.Unknown)}, nil, false, "UNKNOWN"},
		{"unknown fails even with --fail-on critical", []vuln.Finding{finding("GO-1", vuln.Unknown)}, func(p *Policy) { p.FailOn = vuln.Critical }, false, "UNKNOWN"},
		{"unknown passes only when asked", []vuln.Finding{finding("GO-1", vuln.Unknown)}, func(p *Policy) { p.UnknownSeverityPasses = true }, true, ""},
		{"ignore in force passes", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "GO-1", Reason: "r", Until: day("2026-12-01")}} }, true, ""},
		{"ignore by alias passes", []vuln.Finding{finding("GO-1", vuln.Critical, "CVE-2020-1")},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "cve-2020-1", Reason: "r"}} }, true, ""},
		{"expired ignore fails", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "GO-1", Reason: "r", Until: day("2026-11-21")}} }, false, "1 CRITICAL"},
		{"ignore valid through its last day", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "GO-1", Reason: "r", Until: day("2026-11-22")}} }, true, ""},
		{"ignore for another package fails", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "GO-1", Package: "example.com/other", Reason: "r"}} }, false, "1 CRITICAL"},
		{"ignore of another ID fails", []vuln.Finding{finding("GO-1", vuln.High)},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "GO-2", Reason: "r"}} }, false, "1 HIGH"},
		{"VEX not_affected passes", []vuln.Finding{finding("GO-1", vuln.Critical, "CVE-2020-1")},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{{Vulnerability: "CVE-2020-1", Status: "not_affected", Products: []result.VEXProduct{{ID: "pkg:golang/example.com/lib"}}}}
			}, true, ""},
		{"VEX affected does not suppress", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) { p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "affected"}} }, false, "1 CRITICAL"},
		{"VEX under_investigation does not suppress", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) { p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "under_investigation"}} }, false, "1 CRITICAL"},
		{"VEX for another product does not suppress", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "not_affected", Products: []result.VEXProduct{{ID: "pkg:golang/example.com/other"}}}}
			}, false, "1 CRITICAL"},
		{"VEX on the scanned image, for the package in it, passes", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "not_affected", Products: []result.VEXProduct{{ID: "pkg:oci/app@sha256%3A" + imageHex, Subcomponents: []string{"pkg:golang/example.com/lib@v1.0.0"}}}}}
			}, true, ""},
		{"VEX on the scanned image as a whole passes", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "not_affected", Products: []result.VEXProduct{{ID: "registry.example/app@sha256:" + imageHex}}}}
			}, true, ""},
		{"VEX on another image does not suppress, whatever its subcomponents", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "not_affected", Products: []result.VEXProduct{{ID: "pkg:oci/other@sha256%3A" + strings.Repeat("0", 64), Subcomponents: []string{"pkg:golang/example.com/lib"}}}}}
			}, false, "1 CRITICAL"},
		{"VEX on the image for another subcomponent does not suppress", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{{Vulnerability: "GO-1", Status: "not_affected", Products: []result.VEXProduct{{ID: "sha256:" + imageHex, Subcomponents: []string{"pkg:golang/example.com/other"}}}}}
			}, false, "1 CRITICAL"},
		{"a later affected statement overrides not_affected", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{
					{Vulnerability: "GO-1", Status: "affected", Timestamp: now.Add(-time.Hour)},
					{Vulnerability: "GO-1", Status: "not_affected", Timestamp: now.Add(-2 * time.Hour)},
				}
			}, false, "1 CRITICAL"},
		{"a later not_affected statement overrides affected", []vuln.Finding{finding("GO-1", vuln.Critical)},
			func(p *Policy) {
				p.VEX = []result.VEXStatement{
					{Vulnerability: "GO-1", Status: "affected", Timestamp: now.Add(-2 * time.Hour)},
					{Vulnerability: "GO-1", Status: "not_affected", Timestamp: now.Add(-time.Hour)},
				}
			}, true, ""},
		{"one suppressed, one not", []vuln.Finding{finding("GO-1", vuln.Critical), finding("GO-2", vuln.High)},
			func(p *Policy) { p.Ignores = []result.Ignore{{ID: "GO-1", Reason: "r"}} }, false, "1 HIGH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			if tc.policy != nil {
				tc.policy(&p)
			}
			r := &result.Result{Target: result.Target{Input: "registry.example/app:1", Kind: "registry", Reference: "registry.example/app@sha256:" + imageHex, Digest: "sha256:" + imageHex}}
			apply(r, tc.findings, graded{}, nil, p, now, nil, false, flag)
			if r.Gate.Passed != tc.pass {
				t.Fatalf("gate passed = %v, want %v (reasons %q)", r.Gate.Passed, tc.pass, r.Gate.Reasons)
			}
			if !tc.pass && (len(r.Gate.Reasons) == 0 || !strings.Contains(r.Gate.Reasons[0], tc.reason)) {
				t.Errorf("reasons = %q, want one mentioning %q", r.Gate.Reasons, tc.reason)
			}
		})
	}
}

func TestExpiredAndUnusedIgnoresAreReported(t *testing.T) {
	p := DefaultPolicy()
	p.Ignores = []result.Ignore{
		{ID: "GO-1", Reason: "r", Until: day("2026-01-01"), Source: ".customs.yaml:3"},
		{ID: "GO-9", Reason: "r", Source: ".customs.yaml:7"},
	}
	r := &result.Result{}
	apply(r, []vuln.Finding{finding("GO-1", vuln.Low)}, graded{}, nil, p, now, nil, false, flag)
	if len(r.ExpiredIgnores) != 1 || r.ExpiredIgnores[0].ID != "GO-1" {
		t.Errorf("expired ignores = %+v, want GO-1", r.ExpiredIgnores)
	}
	if len(r.UnusedIgnores) != 1 || r.UnusedIgnores[0].ID != "GO-9" {
		t.Errorf("unused ignores = %+v, want GO-9", r.UnusedIgnores)
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), ".customs.yaml:3") {
		t.Errorf("warnings %q do not name the expired entry's line", r.Warnings)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, wantErr string
		n                   int
	}{
		{"empty", "", "", 0},
		{"entries", "ignore:\n  - id: GO-1\n    reason: unreachable\n    until: 2027-01-31\n  - id: GO-2\n    package: x\n    reason: r\n", "", 2},
		{"missing reason", "ignore:\n  - id: GO-1\n", "no reason", 0},
		{"missing id", "ignore:\n  - reason: r\n", "no id", 0},
		{"typo in a key", "ignore:\n  - id: GO-1\n    reason: r\n    util: 2027-01-01\n", "util", 0},
		{"bad date", "ignore:\n  - id: GO-1\n    reason: r\n    until: soon\n", "not a date", 0},
		{"not yaml", "ignore: [", "invalid config", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(".customs.yaml", []byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseConfig(%q) error = %v, want one mentioning %q", tc.yaml, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig(%q) = %v", tc.yaml, err)
			}
			if len(c.Ignore) != tc.n {
				t.Errorf("ParseConfig(%q) has %d entries, want %d", tc.yaml, len(c.Ignore), tc.n)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("ignore:\n  - id: GO-1\n    reason: r\n    until: 2027-01-31\n"))
	f.Add([]byte("ignore: []\n"))
	f.Fuzz(func(t *testing.T, b []byte) { ParseConfig("f.yaml", b) })
}

func FuzzParseVEX(f *testing.F) {
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:golang/x@v1"}],"status":"not_affected","justification":"vulnerable_code_not_present"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { ParseVEX("f.json", b) })
}

// TestParseVEXKeepsProductsAndTimes checks that a statement keeps which
// subcomponents belong to which product, and inherits the document's time.
func TestParseVEXKeepsProductsAndTimes(t *testing.T) {
	doc := `{"@context":"https://openvex.dev/ns/v0.2.0","timestamp":"2026-01-02T03:04:05Z","statements":[
	 {"vulnerability":{"name":"CVE-1"},"status":"not_affected","justification":"component_not_present",
	  "products":[{"@id":"pkg:oci/app@sha256%3Aab","subcomponents":[{"@id":"pkg:golang/x@v1"}]},{"@id":"pkg:golang/y@v2"}]},
	 {"vulnerability":"CVE-2","status":"affected","timestamp":"2026-02-01T00:00:00Z","products":[{"@id":"pkg:golang/y@v2"}]}]}`
	st, err := ParseVEX("doc.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []result.VEXProduct{{ID: "pkg:oci/app@sha256%3Aab", Subcomponents: []string{"pkg:golang/x@v1"}}, {ID: "pkg:golang/y@v2"}}
	if len(st) != 2 || !reflect.DeepEqual(st[0].Products, want) {
		t.Fatalf("products = %+v, want %+v", st[0].Products, want)
	}
	if got := st[0].Timestamp.Format(time.RFC3339); got != "2026-01-02T03:04:05Z" {
		t.Errorf("first statement's time = %s, want the document's", got)
	}
	if got := st[1].Timestamp.Format(time.RFC3339); got != "2026-02-01T00:00:00Z" {
		t.Errorf("second statement's time = %s, want its own", got)
	}
	if _, err := ParseVEX("bad.json", []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":"CVE-1","status":"fixed","products":[{"subcomponents":[{"@id":"x"}]}]}]}`)); err == nil {
		t.Error("a product without @id was accepted")
	}
}

// FuzzParseReport: a baseline report is input from elsewhere (a CI
// artifact); any bytes give a report or an error, and a report serves as a
// baseline without a crash.
func FuzzParseReport(f *testing.F) {
	f.Add([]byte(`{"schema_version":"1","tool":{"name":"customs"},"findings":[{"id":"GO-1","ids":["GO-1"],"package":{"name":"a","version":"1","ecosystem":"Go"}}],"packages":{"list":[{"name":"a","version":"1","ecosystem":"Go"}]}}`))
	f.Add([]byte(`{"schema_version":"1","tool":{"name":"customs"},"capability_analysis":{"modules":[{"path":"m","capabilities":[{"capability":"EXEC","direct":true}]}]},"declaration":"capabilities 1\n"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := result.Parse("fuzz.json", b)
		if err != nil {
			return
		}
		Compare(r, r, CompareOptions{})
		base := newBaseline(r)
		for _, fd := range r.Findings {
			base.existing(fd.Finding, reach.Level(fd.Reachability))
		}
		base.fixed(r)
	})
}
