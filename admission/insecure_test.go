package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// TestInsecureIgnoreTlogInAdmission: an image allowed under a trust-policy
// entry with insecure-ignore-tlog carries a warning that names the waiver
// and the entry, fresh and from the cache; one allowed under an entry
// that waives nothing carries none.
func TestInsecureIgnoreTlogInAdmission(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := newFixture(t, fmt.Sprintf(`version: 1
images:
  - pattern: %[1]s/lax/**
    authorities: [{key: cosign.pub}]
    insecure-ignore-tlog: true
  - pattern: %[1]s/open/**
    allow-unsigned: true
defaults:
  unknown-severity: pass
`, reg.Host))
	writeKey(t, filepath.Join(f.dir, "cosign.pub"), key)
	for _, repo := range []string{"lax/app", "open/app"} {
		repo = reg.Host + "/" + repo
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, nil)
	}
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	for range 2 { // fresh, then cached: both warn
		d := check(t, h, reg.Host+"/lax/app:1")
		if w := strings.Join(d.Warnings, "\n"); !d.Allowed || !strings.Contains(w, "insecure-ignore-tlog (") || !strings.Contains(w, "policy.yaml:3)") {
			t.Errorf("lax (insecure-ignore-tlog), cached %q: %+v; want allowed with a warning naming the entry", d.Cached, d)
		}
	}
	if d := check(t, h, reg.Host+"/open/app:1"); !d.Allowed || strings.Contains(strings.Join(d.Warnings, ""), "insecure") {
		t.Errorf("open: %+v; want allowed without a warning about a waiver", d)
	}
}
