package admission

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzParsePolicy: any bytes give a policy or an error, never a crash.
func FuzzParsePolicy(f *testing.F) {
	if b, err := os.ReadFile("../deploy/policy.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(allowUnsigned))
	f.Add([]byte("version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\nrules:\n  - images: a/**\n    namespaces: ['[']\n"))
	f.Add([]byte("version: 1\nimages: []\ndefaults: {fail-on: high, failurePolicy: Ignore}\nrules: [{ignore: [{id: X, reason: r, until: 2026-01-01}]}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy("fuzz.yaml", b)
		if err == nil {
			p.RuleFor("registry.example/app", "prod")
			p.Exempt("kube-system")
		}
	})
}

// FuzzReview: any body sent to /validate is answered with a review or a
// 400, never a crash; no image is decided (the decider only records).
// /mutate reads reviews with the same code, and resolves tags over the
// network, so it is left out.
func FuzzReview(f *testing.F) {
	obj, gvk := workload("CronJob", "reg.example/app:1", "reg.example/init:1", "reg.example/debug:1")
	f.Add(review("f", "CREATE", gvk, "prod", obj, nil))
	old, _ := workload("CronJob", "reg.example/app:0")
	f.Add(review("g", "UPDATE", gvk, "prod", obj, old))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{"image":"@@"}]}}}}`))
	s, err := New(Config{PolicyFile: writePolicy(f), DB: "../testdata/osv-demo"})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	fd := &fakeDecisions{}
	s.decider = fd.decide
	h := s.Handler()
	f.Fuzz(func(t *testing.T, b []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/validate", bytes.NewReader(b)))
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("/validate answered %d", rec.Code)
		}
	})
}

func writePolicy(f *testing.F) string {
	p := f.TempDir() + "/policy.yaml"
	os.WriteFile(p, []byte(allowUnsigned), 0o644)
	return p
}

// FuzzHarborScanRequest: any body gets a status of the spec's (400, 422,
// 501) or is a request whose image reference parses.
func FuzzHarborScanRequest(f *testing.F) {
	f.Add([]byte(`{"registry":{"url":"https://r.example","authorization":"Basic eDp5"},"artifact":{"repository":"library/app","digest":"sha256:` + strings.Repeat("a", 64) + `","mime_type":"application/vnd.oci.image.manifest.v1+json"}}`))
	f.Add([]byte(`{"registry":{"url":"http://u:p@r.example"},"artifact":{"repository":"A/B","digest":"sha256:x"}}`))
	f.Add([]byte(`{"enabled_capabilities":[{"type":"license"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, u, status, msg := parseHarborScan(b)
		switch status {
		case 0:
			if req == nil || u == nil || u.User != nil {
				t.Fatalf("accepted %q without a clean registry URL", b)
			}
		case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusNotImplemented:
			if msg == "" {
				t.Fatal("an error without a message")
			}
		default:
			t.Fatalf("status %d", status)
		}
	})
}

// FuzzDistributionEvents: any envelope yields only digest references.
func FuzzDistributionEvents(f *testing.F) {
	f.Add([]byte(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("b", 64) + `","repository":"app","url":"http://127.0.0.1:5000/v2/app/manifests/x"},"request":{"host":"127.0.0.1:5000"}}]}`))
	f.Add([]byte(`{"events":[{"action":"pull"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		images, err := pushedImages(b)
		if err != nil {
			return
		}
		for _, im := range images {
			if _, err := name.NewDigest(im, name.StrictValidation); err != nil {
				t.Fatalf("%q: %v", im, err)
			}
		}
	})
}
