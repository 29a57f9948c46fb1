package admission

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/scan"
)

// harborSchemas compiles the components of Harbor's published scanner
// API (OpenAPI v1.2, ../shared/testdata/schemas/harbor), by name.
func harborSchemas(t *testing.T) func(name string) *jsonschema.Schema {
	t.Helper()
	p := filepath.Join(testimage.Root(), "..", "shared", "testdata", "schemas", "harbor", "scanner-adapter-openapi-v1.2.yaml")
	y, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("skipping: Harbor's scanner API spec is not at %s: %v", p, err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///harbor.json", doc); err != nil {
		t.Fatal(err)
	}
	return func(name string) *jsonschema.Schema {
		s, err := c.Compile("file:///harbor.json#/components/schemas/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// harborCall makes one request of the Harbor API and validates the body
// against the named schema when the status is the one expected.
func harborCall(t *testing.T, h http.Handler, schema func(string) *jsonschema.Schema, method, path, accept string, body any, wantStatus int, wantSchema string) []byte {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != wantStatus {
		t.Fatalf("%s %s: %d %s; want %d", method, path, rec.Code, rec.Body, wantStatus)
	}
	if wantSchema != "" {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, rec.Body)
		}
		if err := schema(wantSchema).Validate(v); err != nil {
			t.Errorf("%s %s: the %s does not validate: %v\n%s", method, path, wantSchema, err, rec.Body)
		}
	}
	return rec.Body.Bytes()
}

// TestHarborScannerAPI is Harbor's flow against the real docker-registry,
// which requires credentials: metadata; a scan request carrying the
// registry's Authorization; polls (302 with Refresh-After) until the
// report; the vulnerability report lists what customs scan finds for the
// digest, with reachability in vendor_attributes; the SBOM report in
// both formats; a wrong digest ends in a 500 report with a reason; bad
// requests get 400, 422, 501 and 404. Every body validates against the
// v1.2 schemas, and the credentials are in no log and no cache file.
func TestHarborScannerAPI(t *testing.T) {
	schema := harborSchemas(t)
	const user, password = "harbor-robot", "s3cret-robot-password"
	reg := registrytest.Start(t, registrytest.Options{User: user, Password: password})
	img := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
	ref, err := name.ParseReference(reg.Host+"/library/goapp:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()

	f := newFixture(t, "version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n")
	var logs bytes.Buffer
	cfg := f.config()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()

	// The schemas hold: a severity Harbor does not know fails.
	if schema("HarborVulnerabilityReport").Validate(map[string]any{"severity": "Bogus"}) == nil {
		t.Fatal("the compiled schema accepts a severity outside its enum")
	}
	harborCall(t, h, schema, "GET", "/api/v1/metadata", "", nil, http.StatusOK, "ScannerAdapterMetadata")

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	request := func(digest string) map[string]any {
		return map[string]any{
			"registry": map[string]string{"url": "http://" + reg.Host, "authorization": auth},
			"artifact": map[string]string{"repository": "library/goapp", "digest": digest, "tag": "1", "mime_type": "application/vnd.oci.image.manifest.v1+json"},
		}
	}
	accepted := harborCall(t, h, schema, "POST", "/api/v1/scan", "", request(digest.String()), http.StatusAccepted, "ScanResponse")
	var resp struct{ ID string }
	json.Unmarshal(accepted, &resp)
	ids := []string{resp.ID}
	// The same artifact again, with the same credentials: the same job.
	var again struct{ ID string }
	json.Unmarshal(harborCall(t, h, schema, "POST", "/api/v1/scan", "", request(digest.String()), http.StatusAccepted, "ScanResponse"), &again)
	if again.ID != resp.ID {
		t.Errorf("the same request twice made two jobs: %s, %s", resp.ID, again.ID)
	}

	// Poll as Harbor does until the report is ready.
	poll := func(id string) int {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			req := httptest.NewRequest("GET", "/api/v1/scan/"+id+"/report", nil)
			req.Header.Set("Accept", harborVulnReport11)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusFound {
				return rec.Code
			}
			if rec.Header().Get("Refresh-After") == "" {
				t.Fatal("a 302 without Refresh-After")
			}
			if time.Now().After(deadline) {
				t.Fatal("the report was not ready within 2 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code := poll(resp.ID); code != http.StatusOK {
		t.Fatalf("report: %d", code)
	}
	body := harborCall(t, h, schema, "GET", "/api/v1/scan/"+resp.ID+"/report", harborVulnReport11, nil, http.StatusOK, "HarborVulnerabilityReport")
	var report struct {
		VendorAttributes map[string]any `json:"vendor_attributes"`
		Vulnerabilities  []struct {
			ID               string         `json:"id"`
			Package          string         `json:"package"`
			VendorAttributes map[string]any `json:"vendor_attributes"`
		} `json:"vulnerabilities"`
	}
	json.Unmarshal(body, &report)
	if report.VendorAttributes["verification"] == nil || report.VendorAttributes["posture"] == nil || report.VendorAttributes["gate"] == nil {
		t.Errorf("the report's vendor_attributes lack the verification, posture or gate: %v", report.VendorAttributes)
	}

	// What customs scan says of the same digest, with the same data.
	sc := &scan.Scanner{Cache: f.cache, DB: f.db, Pull: pull.Options{Cache: f.cache, Keychain: harborKeychain{host: reg.Host, authorization: auth}}}
	want, err := sc.Scan(context.Background(), pull.Target{Kind: pull.Registry, Ref: reg.Host + "/library/goapp@" + digest.String()}, scan.Request{Policy: scan.DefaultPolicy()})
	var perr *scan.PolicyError
	if err != nil && !errors.As(err, &perr) {
		t.Fatal(err)
	}
	var got, wantIDs []string
	for _, v := range report.Vulnerabilities {
		got = append(got, v.Package+" "+v.ID)
		if v.VendorAttributes["reachability"] == nil && strings.HasPrefix(v.ID, "GO-") {
			t.Errorf("%s has no reachability in vendor_attributes: %v", v.ID, v.VendorAttributes)
		}
	}
	for _, f := range want.Findings {
		wantIDs = append(wantIDs, f.Package.Name+" "+f.ID)
	}
	slices.Sort(got)
	slices.Sort(wantIDs)
	if len(got) == 0 || !slices.Equal(got, wantIDs) {
		t.Errorf("the Harbor report lists\n  %v\ncustoms scan\n  %v", got, wantIDs)
	}

	// The SBOM in both formats, with the packages customs sbom lists for
	// the digest (the same pull and generator, in another cache); without
	// sbom_media_type, 400.
	art, err := pull.Fetch(context.Background(), pull.Target{Kind: pull.Registry, Ref: reg.Host + "/library/goapp@" + digest.String()},
		pull.Options{Keychain: harborKeychain{host: reg.Host, authorization: auth}})
	if err != nil {
		t.Fatal(err)
	}
	defer art.Close()
	rendered, err := sbom.Render(context.Background(), art, []string{"cyclonedx-json", "spdx-json"}, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, mt := range []string{harborCycloneDX, harborSPDX} {
		b := harborCall(t, h, schema, "GET", "/api/v1/scan/"+resp.ID+"/report?sbom_media_type="+url.QueryEscape(mt), harborSBOMReport, nil, http.StatusOK, "HarborSbomReport")
		var report struct {
			SBOM json.RawMessage `json:"sbom"`
		}
		json.Unmarshal(b, &report)
		got, want := sbomPackages(t, report.SBOM), sbomPackages(t, rendered[i])
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("the %s SBOM report lists\n  %v\ncustoms sbom of the digest\n  %v", mt, got, want)
		}
	}
	harborCall(t, h, schema, "GET", "/api/v1/scan/"+resp.ID+"/report", harborSBOMReport, nil, http.StatusBadRequest, "ErrorResponse")
	harborCall(t, h, schema, "GET", "/api/v1/scan/"+resp.ID+"/report", "text/html", nil, http.StatusNotImplemented, "ErrorResponse")
	harborCall(t, h, schema, "GET", "/api/v1/scan/nosuchid/report", harborVulnReport11, nil, http.StatusNotFound, "ErrorResponse")

	// A digest the repository does not hold: a 500 report with a reason.
	wrong := "sha256:" + strings.Repeat("ab", 32)
	accepted = harborCall(t, h, schema, "POST", "/api/v1/scan", "", request(wrong), http.StatusAccepted, "ScanResponse")
	json.Unmarshal(accepted, &resp)
	if code := poll(resp.ID); code != http.StatusInternalServerError {
		t.Fatalf("a wrong digest's report: %d, want 500", code)
	}
	b := harborCall(t, h, schema, "GET", "/api/v1/scan/"+resp.ID+"/report", harborVulnReport11, nil, http.StatusInternalServerError, "ErrorResponse")
	if !strings.Contains(string(b), wrong[:20]) {
		t.Errorf("the failure does not say which image: %s", b)
	}

	// Bad requests.
	bad := request(digest.String())
	bad["artifact"] = map[string]string{"repository": "library/goapp", "digest": "latest"}
	harborCall(t, h, schema, "POST", "/api/v1/scan", "", bad, http.StatusUnprocessableEntity, "ErrorResponse")
	bad = request(digest.String())
	bad["artifact"] = map[string]string{"repository": "library/goapp", "digest": digest.String(), "mime_type": "application/vnd.cncf.helm.config.v1+json"}
	harborCall(t, h, schema, "POST", "/api/v1/scan", "", bad, http.StatusNotImplemented, "ErrorResponse")
	req := httptest.NewRequest("POST", "/api/v1/scan", strings.NewReader("{not json"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d", rec.Code)
	}

	// A report outlives a restart of the process that made it (kept in
	// its cache directory, without Redis).
	firstID := ids[0]
	s.Close()
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	harborCall(t, s2.Handler(), schema, "GET", "/api/v1/scan/"+firstID+"/report", harborVulnReport11, nil, http.StatusOK, "HarborVulnerabilityReport")

	// The registry's credentials are in no log and no file of the cache.
	secret := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	for _, needle := range []string{password, secret} {
		if strings.Contains(logs.String(), needle) {
			t.Errorf("the logs hold the registry credentials:\n%s", logs.String())
		}
		filepath.WalkDir(f.cache.Dir(), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(needle)) {
					t.Errorf("the cache file %s holds the registry credentials", p)
				}
			}
			return nil
		})
	}
}

// sbomPackages are the name@version of an SBOM's packages (CycloneDX
// components or SPDX packages), sorted.
func sbomPackages(t *testing.T, doc []byte) []string {
	t.Helper()
	var d struct {
		Components []struct{ Name, Version string } `json:"components"`
		Packages   []struct {
			Name    string `json:"name"`
			Version string `json:"versionInfo"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range d.Components {
		out = append(out, c.Name+"@"+c.Version)
	}
	for _, p := range d.Packages {
		out = append(out, p.Name+"@"+p.Version)
	}
	slices.Sort(out)
	return out
}
