package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleResult scans a directory whose go.mod requires gjson v1.6.5 against the
// demo database, with one finding ignored and one suppressed by VEX.
func sampleResult(t *testing.T) *result.Result {
	t.Helper()
	return resultWith(t)
}

// resultWith is result with more requirements in go.mod ("example.com/m
// v1.0.0").
func resultWith(t *testing.T, requires ...string) *result.Result {
	t.Helper()
	dir := t.TempDir()
	mod := "module example.com/app\n\ngo 1.22\n\nrequire (\n\tgithub.com/tidwall/gjson v1.6.5\n\tgolang.org/x/text v0.3.0\n"
	for _, r := range requires {
		mod += "\t" + r + "\n"
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod+")\n"), 0o644)
	ctx := context.Background()
	a, err := pull.Fetch(ctx, pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:app"}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s, err := sbom.Generate(ctx, a, sbom.Options{ToolVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	p := scan.DefaultPolicy()
	p.WarnDBAge = 0
	p.Ignores = []result.Ignore{{ID: "GO-2021-0113", Reason: "language tags come from our own config", Source: ".customs.yaml:2"}}
	p.VEX = []result.VEXStatement{{Vulnerability: "CVE-2021-42248", Status: "not_affected", Justification: "vulnerable_code_not_in_execute_path", Source: "app.openvex.json"}}
	scanner := &scan.Scanner{DB: filepath.Join(testimage.Root(), "testdata", "osv-demo"), SBOM: sbom.Options{ToolVersion: "test"}}
	r, err := scanner.Evaluate(ctx, a, s, scan.Request{Policy: p},
		time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var perr *scan.PolicyError
	if err != nil && !errors.As(err, &perr) {
		t.Fatal(err)
	}
	r.Database.Dir = "testdata/osv-demo" // not the checkout's absolute path
	return r
}

func render(t *testing.T, r *result.Result, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, r, format); err != nil {
		t.Fatalf("Write(%s): %v", format, err)
	}
	return buf.Bytes()
}

func TestStatuses(t *testing.T) {
	r := sampleResult(t)
	got := map[string]result.Status{}
	for _, f := range r.Findings {
		got[f.ID] = f.Status
	}
	want := map[string]result.Status{"GO-2021-0054": result.Affected, "GO-2021-0265": result.NotAffected, "GO-2021-0113": result.Ignored}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if r.Gate.Passed {
		t.Errorf("gate passed with a HIGH finding affected")
	}
}

func TestGolden(t *testing.T) {
	r := sampleResult(t)
	// The table has golden files of its own (TestTableGolden).
	for _, format := range []string{"markdown"} {
		got := render(t, r, format)
		path := filepath.Join("testdata", format+".golden")
		if *update {
			os.WriteFile(path, got, 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s differs from %s (-want +got):\n%s", format, path, diff)
		}
	}
}

func validator(t *testing.T, url string, files map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for u, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.AddResource(u, doc)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, doc []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("does not validate: %v", err)
	}
}

func TestJSONValidatesAgainstPublishedSchema(t *testing.T) {
	s := validator(t, "file:///report.schema.json", map[string]string{"file:///report.schema.json": filepath.Join(testimage.Root(), "docs", "report.schema.json")})
	validate(t, s, render(t, sampleResult(t), "json"))

	// With the trust policy's verdict, verified and failed.
	digest := "sha256:" + strings.Repeat("ab", 32)
	r := sampleResult(t)
	r.Duration = 12.345
	r.Verification = &result.Verification{Passed: true, PolicyResult: verify.PolicyResult{Reference: "r.example/app@" + digest, Digest: digest, Entry: "r.example/**",
		Signature: &verify.ImageResult{Reference: "r.example/app@" + digest, Digest: digest, Scheme: verify.SchemeTag, Result: verify.Result{Signer: "key", LogIndex: -1}}}}
	validate(t, s, render(t, r, "json"))
	if !strings.Contains(string(render(t, r, "table")), "signature: verified "+digest+", signed by key") {
		t.Error("the table does not say the image verified")
	}
	sig := r.Verification.Signature
	sig.Attestations = []verify.AttestationResult{{PredicateType: "https://slsa.dev/provenance/v1", Scheme: verify.SchemeReferrer, Result: sig.Result, Predicate: []byte(`{"builder":{"id":"ci"}}`)}}
	sig.Annotations = map[string]string{"env": "prod"}
	sig.Platforms = []verify.PlatformResult{{Platform: "linux/amd64", ImageResult: verify.ImageResult{Reference: sig.Reference, Digest: digest, Scheme: verify.SchemeTag, Result: sig.Result, Annotations: sig.Annotations}}}
	validate(t, s, render(t, r, "json"))
	if !strings.Contains(string(render(t, r, "table")), "attested https://slsa.dev/provenance/v1") {
		t.Error("the table does not list the attestation")
	}
	r.Verification = &result.Verification{Check: verify.CheckNoSignature, Error: "verification failed: no signature found", PolicyResult: verify.PolicyResult{Reference: "r.example/app@" + digest, Digest: digest}}
	validate(t, s, render(t, r, "json"))
}

// TestCapabilitiesInEveryFormat renders a result whose Go code exercises an
// undeclared capability.
func TestCapabilitiesInEveryFormat(t *testing.T) {
	r := sampleResult(t)
	path := []capabilities.Frame{{Function: "example.com/evil.Do", Module: "example.com/evil", Pos: "evil.go:14"}, {Function: "os/exec.Command"}}
	r.Capabilities = &capabilities.Report{Declared: "capabilities.txt",
		Violations: []capabilities.Violation{{Module: "example.com/evil", Capability: capabilities.Exec, Path: path}},
		Unused:     []capabilities.Unused{{Subject: "example.com/evil", Capability: capabilities.Reflect, Line: 3}}}
	s := validator(t, "file:///report.schema.json", map[string]string{"file:///report.schema.json": filepath.Join(testimage.Root(), "docs", "report.schema.json")})
	validate(t, s, render(t, r, "json"))
	for format, want := range map[string]string{
		"table":          "NOT DECLARED example.com/evil EXEC: example.com/evil.Do (evil.go:14) -> os/exec.Command",
		"markdown":       "| example.com/evil | EXEC | example.com/evil.Do (evil.go:14) -&gt; os/exec.Command |",
		"sarif":          `"ruleId": "customs/capability/EXEC"`,
		"cyclonedx-json": `"customs:capabilities:undeclared"`,
	} {
		if out := string(render(t, r, format)); !strings.Contains(out, want) {
			t.Errorf("%s output does not contain %q:\n%s", format, want, out)
		}
	}
	if out := string(render(t, r, "sarif")); !strings.Contains(out, `"startLine": 14`) {
		t.Errorf("the SARIF result is not located at the call:\n%s", out)
	}
}

// moduleDir downloads (or finds) a module that publishes a schema.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		t.Skipf("skipping: go mod download %s: %v", mod, err)
	}
	var m struct{ Dir string }
	if json.Unmarshal(out, &m) != nil || m.Dir == "" {
		t.Skipf("skipping: no directory for %s", mod)
	}
	return m.Dir
}

func TestSARIFValidatesAgainst210Schema(t *testing.T) {
	validate(t, sarifSchema(t), render(t, sampleResult(t), "sarif"))
	r := sampleResult(t)
	for i := range r.Findings {
		r.Findings[i].Reachability = "imported"
	}
	validate(t, sarifSchema(t), render(t, r, "sarif"))
}

// sarifSchema is the OASIS SARIF 2.1.0 schema, which go-sarif publishes as
// a Go string.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(moduleDir(t, "github.com/owenrumney/go-sarif/v3@v3.3.0"), "pkg", "report", "v210", "sarif", "schema.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(src), "const schema = `")
	schemaText, _, _ := strings.Cut(rest, "`")
	file := filepath.Join(t.TempDir(), "sarif-schema-2.1.0.json")
	os.WriteFile(file, []byte(schemaText), 0o644)
	return validator(t, "file:///sarif.json", map[string]string{"file:///sarif.json": file})
}

func TestCycloneDXWithVulnerabilitiesValidatesAgainst16Schema(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Skip(err)
	}
	var m struct{ Dir string }
	json.Unmarshal(out, &m)
	dir := filepath.Join(m.Dir, "schema")
	s := validator(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  filepath.Join(dir, "bom-1.6.schema.json"),
		"http://cyclonedx.org/schema/spdx.schema.json":     filepath.Join(dir, "spdx.schema.json"),
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": filepath.Join(dir, "jsf-0.82.schemax.json"),
	})
	doc := render(t, sampleResult(t), "cyclonedx-json")
	validate(t, s, doc)
	if !bytes.Contains(doc, []byte(`"vulnerabilities"`)) || !bytes.Contains(doc, []byte("GO-2021-0054")) {
		t.Errorf("no vulnerabilities section with GO-2021-0054")
	}
	// A finding the program does not reach: not affected, its code not
	// reachable, and still valid.
	r := sampleResult(t)
	i := slices.IndexFunc(r.Findings, func(f result.Finding) bool { return f.Status == result.Affected })
	r.Findings[i].Reachability = "required"
	doc = render(t, r, "cyclonedx-json")
	validate(t, s, doc)
	if !bytes.Contains(doc, []byte(`"state": "not_affected"`)) || !bytes.Contains(doc, []byte(`"justification": "code_not_reachable"`)) {
		t.Errorf("a required finding is not stated not_affected, code_not_reachable:\n%s", doc)
	}
}

// TestOpenVEXRoundTrip reads the OpenVEX output back as VEX input.
func TestOpenVEXRoundTrip(t *testing.T) {
	r := sampleResult(t)
	st, err := scan.ParseVEX("out.openvex.json", render(t, r, "openvex"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(r.Findings) {
		t.Errorf("%d statements for %d findings", len(st), len(r.Findings))
	}
}

// TestOpenVEXReachability: a finding the program does not reach is
// stated not_affected, its code not in the execute path, and reads back
// as a statement that suppresses it; a called one stays affected.
func TestOpenVEXReachability(t *testing.T) {
	r := sampleResult(t)
	i := slices.IndexFunc(r.Findings, func(f result.Finding) bool { return f.Status == result.Affected })
	if i < 0 {
		t.Fatal("the sample has no affected finding")
	}
	for _, tc := range []struct{ level, status, justification string }{
		{"imported", "not_affected", "vulnerable_code_not_in_execute_path"},
		{"required", "not_affected", "vulnerable_code_not_in_execute_path"},
		{"called", "affected", ""},
		{"unknown", "affected", ""},
	} {
		r.Findings[i].Reachability = tc.level
		st, err := scan.ParseVEX("out.openvex.json", render(t, r, "openvex"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.Vulnerability != r.Findings[i].ID {
				continue
			}
			if s.Status != tc.status || s.Justification != tc.justification || tc.status == "not_affected" && s.ImpactStatement == "" {
				t.Errorf("%s finding: %+v, want %s %s", tc.level, s, tc.status, tc.justification)
			}
		}
	}
}

// TestReachabilityPathInEveryFormat: a called finding's call path is in
// the JSON (valid against the report schema), the table, markdown, JUnit
// and GitLab, and is SARIF's code flow (valid against SARIF 2.1.0), with
// the program's own calls at their lines.
func TestReachabilityPathInEveryFormat(t *testing.T) {
	r := sampleResult(t)
	path := []capabilities.Frame{
		{Function: "example.com/app.main", Module: "example.com/app", Pos: "main.go:19"},
		{Function: "example.com/app.lookup", Module: "example.com/app", Pos: "lookup.go:7"},
		{Function: "github.com/tidwall/gjson.Get", Module: "github.com/tidwall/gjson"},
	}
	r.Findings[0].Reachability, r.Findings[0].ReachabilityPath, r.Findings[0].Fails = "called", path, true
	s := validator(t, "file:///report.schema.json", map[string]string{"file:///report.schema.json": filepath.Join(testimage.Root(), "docs", "report.schema.json")})
	validate(t, s, render(t, r, "json"))
	validate(t, sarifSchema(t), render(t, r, "sarif"))
	line := "example.com/app.main (main.go:19) -> example.com/app.lookup (lookup.go:7) -> github.com/tidwall/gjson.Get"
	for format, want := range map[string]string{
		"json":     `"reachability_path"`,
		"table":    r.Findings[0].ID + " in " + r.Findings[0].Package.Name + ": " + line,
		"markdown": "-&gt; github.com/tidwall/gjson.Get",
		"junit":    "called: example.com/app.main (main.go:19) -&gt; example.com/app.lookup",
		"gitlab":   `(reachability: called: example.com/app.main (main.go:19) -\u003e example.com/app.lookup`,
		"sarif":    `"text": "example.com/app.lookup calls github.com/tidwall/gjson.Get"`,
	} {
		if out := string(render(t, r, format)); !strings.Contains(out, want) {
			t.Errorf("%s output does not contain %q:\n%s", format, want, out)
		}
	}
	if out := string(render(t, r, "sarif")); !strings.Contains(out, `"uri": "lookup.go"`) || !strings.Contains(out, `"startLine": 7`) {
		t.Errorf("the SARIF code flow does not locate the program's calls:\n%s", out)
	}
}
