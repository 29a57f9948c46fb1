package admission

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/customs-dev/customs/internal/hint"
	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
)

// TestRedactCredentials hides credentials in every form a reference can
// carry them, and leaves digests alone.
func TestRedactCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"reg.example/app:1":                             "reg.example/app:1",
		"reg.example/app@sha256:abc":                    "reg.example/app@sha256:abc",
		"nginx@sha256:abc":                              "nginx@sha256:abc",
		"https://user:pw@reg.example/app:1":             "https://REDACTED@reg.example/app:1",
		"user:secretpw@reg.example/app:1":               "REDACTED@reg.example/app:1",
		"user:secretpw@reg.example:5000/app@sha256:abc": "REDACTED@reg.example:5000/app@sha256:abc",
		"token@reg.example/app":                         "REDACTED@reg.example/app",
		"user:secretpw@reg.example":                     "REDACTED@reg.example",
		"a:b@c@reg.example/app":                         "REDACTED@reg.example/app",
	} {
		if got := redactCredentials(in); got != want {
			t.Errorf("redactCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnknownOperationsDenied: only CREATE and UPDATE are decided, DELETE
// and CONNECT run nothing new; any other operation is denied with a reason
// that names it, even for an image that would be allowed, and on an
// unmatched registry with the real Decide.
func TestUnknownOperationsDenied(t *testing.T) {
	s := newTestServer(t, "version: 1\nunmatched: deny\nimages:\n  - pattern: reg.example/**\n    allow-unsigned: true\n")
	h := s.Handler()
	obj, gvk := workload("Pod", "elsewhere.example/app:1")
	for _, op := range []admissionv1.Operation{"", "create", "PATCH", "Update"} {
		for _, path := range []string{"/validate", "/mutate"} {
			_, out := post(t, h, path, review("op", op, gvk, "prod", obj, nil))
			if out == nil || out.Response.Allowed || out.Response.Result == nil || !strings.Contains(out.Response.Result.Message, fmt.Sprintf("operation %q", op)) {
				t.Errorf("%s with operation %q: %+v; want denied, naming the operation", path, op, out)
			}
		}
	}
	for _, op := range []admissionv1.Operation{admissionv1.Delete, admissionv1.Connect} {
		_, out := post(t, h, "/validate", review("op", op, gvk, "prod", obj, nil))
		if out == nil || !out.Response.Allowed {
			t.Errorf("%s: %+v; want allowed", op, out)
		}
	}
	_, out := post(t, h, "/validate", review("op", admissionv1.Create, gvk, "prod", obj, nil))
	if out == nil || out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "not allowed by the trust policy") {
		t.Errorf("CREATE on an unmatched registry: %+v", out)
	}
}

// TestAPIVersionRequired: a review without apiVersion is not taken as v1.
func TestAPIVersionRequired(t *testing.T) {
	h := newTestServer(t, allowUnsigned).Handler()
	for _, body := range []string{
		`{"kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{}}}}`,
		`{"apiVersion":"","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{}}}}`,
		`{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{}}}}`,
	} {
		rec, _ := post(t, h, "/validate", []byte(body))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "admission.k8s.io/v1") {
			t.Errorf("%s: %d %s; want 400 naming admission.k8s.io/v1", body, rec.Code, rec.Body)
		}
	}
}

// TestStoreHealthProbed: with Redis gone, /readyz and the metric say so
// within a probe interval although no request reaches Redis, and say it is
// back within one interval of its return.
func TestStoreHealthProbed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	stop := runRedis(t, port)
	f := newFixture(t, allowUnsigned)
	store, err := OpenRedis(fmt.Sprintf("redis://127.0.0.1:%d/0", port), 250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.Store = store
	cfg.ProbeInterval = 50 * time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	readyz := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Body.String()
	}
	waitFor := func(what string, up float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			degraded := strings.Contains(readyz(), "unavailable")
			if testutil.ToFloat64(s.metrics.storeUp) == up && degraded == (up == 0) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: store_up %v, /readyz %q after 5s", what, testutil.ToFloat64(s.metrics.storeUp), readyz())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("with Redis up", 1)
	stop()
	waitFor("with Redis gone and no request", 0)
	if testutil.ToFloat64(s.metrics.storeErrors.WithLabelValues("redis")) == 0 {
		t.Error("the probe's failures are not counted")
	}
	runRedis(t, port)
	waitFor("with Redis back", 1)
}

// TestErrorCauses counts a failure to decide under its own cause: a
// database without data for the image's ecosystem is not a registry error.
func TestErrorCauses(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFixture(t, "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\n")
	signtest.Push(t, reg.Host+"/debian:1", testimage.Image(t, "amd64", nil))
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	if d := check(t, h, reg.Host+"/debian:1"); d.Allowed || !strings.Contains(strings.Join(d.Reasons, ""), "no data for Debian") {
		t.Fatalf("a Debian image with a Go-only database: %+v", d)
	}
	check(t, h, reg.Host+"/missing:1")
	for cause, want := range map[string]float64{causeDatabase: 1, causeRegistry: 1, causeScan: 0} {
		if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(cause)); got != want {
			t.Errorf("errors{cause=%q} = %v, want %v", cause, got, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !bytes.Contains(rec.Body.Bytes(), []byte(`customs_admission_errors_total{cause="database"} 1`)) {
		t.Errorf("/metrics lacks the database cause")
	}
}

// TestSCTInAdmission: a keyless signature whose certificate's SCT comes
// from a CT log the trusted root does not list is denied naming the sct
// check; under an entry with insecure-ignore-sct it is allowed, with a
// warning that names the waiver.
func TestSCTInAdmission(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	vs := signtest.NewSigstore(t)
	const who, issuer = "release@example.com", "https://issuer.example.com"
	f := newFixture(t, fmt.Sprintf(`version: 1
trusted-root: root.json
images:
  - pattern: %[1]s/lax/**
    authorities: [{identity: %[2]s, issuer: %[3]q}]
    insecure-ignore-sct: true
  - pattern: %[1]s/strict/**
    authorities: [{identity: %[2]s, issuer: %[3]q}]
defaults:
  unknown-severity: pass
`, reg.Host, who, issuer))
	if err := os.WriteFile(filepath.Join(f.dir, "root.json"), vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	img := signtest.Image(t)
	raw, _ := img.RawManifest()
	for _, repo := range []string{"lax/app", "strict/app"} {
		signtest.Push(t, reg.Host+"/"+repo+":1", img)
		signtest.AttachBundle(t, reg.Host+"/"+repo, img, vs.Sign(t, who, issuer, raw, signtest.SignOptions{SCT: signtest.SCTUnknownLog}).Bundle(t), "")
	}
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	if d := check(t, h, reg.Host+"/strict/app:1"); d.Allowed || !strings.Contains(strings.Join(d.Reasons, ""), "sct") {
		t.Errorf("strict, SCT from an unknown CT log: %+v; want denied by the sct check", d)
	}
	for range 2 { // fresh, then cached: both warn
		d := check(t, h, reg.Host+"/lax/app:1")
		if !d.Allowed || !strings.Contains(strings.Join(d.Warnings, ""), "insecure-ignore-sct") {
			t.Errorf("lax (insecure-ignore-sct), cached %q: %+v; want allowed with a warning", d.Cached, d)
		}
	}
}

// TestReasonsSpeakToTheCluster: a denial's reasons name the policy's keys
// and the server's settings, never the command line's flags, which a
// Kubernetes user cannot pass.
func TestReasonsSpeakToTheCluster(t *testing.T) {
	limit := fmt.Errorf("layer x: %w", &pull.LimitError{What: "a layer count of", Value: 300, Max: 256, Setting: "max-layers"})
	severity := hint.New(errors.New("2 findings have no severity"), "unknown-severity", "pass them with %s pass")
	for err, want := range map[error]string{
		limit:    "layer x: the image has a layer count of 300, over the limit of 256 (raise it with the server's max-layers setting if the image is trusted)",
		severity: "2 findings have no severity (pass them with unknown-severity: pass)",
	} {
		if got := reason(err); got != want {
			t.Errorf("reason(%v) = %q, want %q", err, got, want)
		}
	}
}
