package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "empty"},
		{"version: 2\nimages: []\n", "version 2"},
		{"version: 1\nunmatched: maybe\n", `unmatched: "maybe"`},
		{"version: 1\nimages:\n  - pattern: a/b\n", "names no authority"},
		{"version: 1\nimages:\n  - pattern: a/b\n    allow-unsigned: true\n    authorities: [{key: k.pub}]\n", "both authorities and allow-unsigned"},
		{"version: 1\nimages:\n  - pattern: a/b\n    authorities: [{identity: x}]\n", "an identity and an issuer"},
		{"version: 1\nimages:\n  - pattern: a/b\n    authorities: [{key: k.pub, issuer: y}]\n", "both a key and an identity"},
		{"version: 1\nimages:\n  - pattern: '[a'\n    allow-unsigned: true\n", "pattern"},
		{"version: 1\nimages:\n  - pattern: a/b\n    allow-unsigned: true\n    max-age: soon\n", "not a duration"},
		{"version: 1\nimagez: []\n", "imagez"},
		{"version: 1\nimages:\n  - pattern: r/*\n    authorities: [{key: k}]\n    multi-arch: all\n", "multi-arch"},
		{"version: 1\nimages:\n  - pattern: r/*\n    authorities: [{key: k}]\n    attestations: [sbom]\n", "unknown attestation type"},
		{"version: 1\nimages:\n  - pattern: r/*\n    allow-unsigned: true\n    attestations: [spdxjson]\n", "allows unsigned"},
		{"version: 1\nimages:\n  - pattern: r/*\n    allow-unsigned: true\n    annotations: {env: prod}\n", "requires signed annotations but allows unsigned"},
		{"version: 1\nimages:\n  - pattern: r/*\n    authorities: [{key: k}]\n    annotations: {'': prod}\n", "an empty key"},
		{"version: 1\nimages:\n  - pattern: r/*\n    authorities: [{key: k}]\n    annotations: [env=prod]\n", "line 5"},
	} {
		_, err := ParsePolicy("p.yaml", []byte(tc.yaml))
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%q) = %v, want an ErrPolicy mentioning %q", tc.yaml, err, tc.want)
		}
	}
	p, err := ParsePolicy("p.yaml", []byte("version: 1\nimages:\n  - pattern: a/b\n    allow-unsigned: true\n  - pattern: c/**\n    authorities: [{key: k.pub}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Images[1].Line != 5 || p.Unmatched != "deny" {
		t.Errorf("entry line %d, unmatched %q; want 5 and deny", p.Images[1].Line, p.Unmatched)
	}
}

func TestMatchRepo(t *testing.T) {
	for _, tc := range []struct {
		pattern, repo string
		want          bool
	}{
		{"registry.example/app", "registry.example/app", true},
		{"registry.example/*", "registry.example/app", true},
		{"registry.example/*", "registry.example/team/app", false},
		{"registry.example/**", "registry.example/team/app", true},
		{"registry.example/**/app", "registry.example/app", true},
		{"registry.example/app-*", "registry.example/app-web", true},
		{"registry.example/app", "registry.example/app2", false},
		{"*/library/*", "index.docker.io/library/alpine", true},
	} {
		if got := MatchRepo(tc.pattern, tc.repo); got != tc.want {
			t.Errorf("MatchRepo(%q, %q) = %v, want %v", tc.pattern, tc.repo, got, tc.want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: 1\nunmatched: deny\nimages:\n  - pattern: r/**\n    authorities: [{key: k.pub}, {identity: i, issuer: u}]\n    max-age: 720h\n"))
	f.Add([]byte("version: 1\nimages:\n  - pattern: '[a'\n    allow-unsigned: true\n"))
	f.Add([]byte("version: 1\nimages:\n  - pattern: r/*\n    authorities: [{key: k.pub}]\n    attestations: [slsaprovenance1, 'https://example.com/p']\n    multi-arch: each\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParsePolicy("f.yaml", b); err == nil {
			p.For("registry.example/app")
		}
	})
}

// TestPolicyVerify holds signed, unsigned and unmatched images in a real
// registry against a policy file.
func TestPolicyVerify(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	for name, k := range map[string]*ecdsa.PrivateKey{"cosign.pub": key, "other.pub": other} {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	}
	signedRepo := reg.Host + "/team/app"
	d := signtest.Push(t, signedRepo+":1", signtest.Image(t))
	signtest.SignTag(t, signedRepo, d, signtest.Payload(signedRepo, d), key, nil)
	signtest.Push(t, reg.Host+"/team/unsigned:1", signtest.Image(t))
	signtest.Push(t, reg.Host+"/public/base:1", signtest.Image(t))
	signtest.Push(t, reg.Host+"/elsewhere/x:1", signtest.Image(t))

	write := func(body string) *Policy {
		f := filepath.Join(dir, "policy.yaml")
		os.WriteFile(f, []byte(body), 0o644)
		p, err := LoadPolicy(f)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write(`version: 1
images:
  - pattern: ` + reg.Host + `/public/*
    allow-unsigned: true
  - pattern: ` + reg.Host + `/team/**
    authorities:
      - key: other.pub
      - key: cosign.pub
    insecure-ignore-tlog: true
`)
	check := func(ref string) (*PolicyResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return p.Verify(context.Background(), r, nil)
	}
	if r, err := check(signedRepo + ":1"); err != nil || r.Signature == nil || r.Digest != d.String() {
		t.Errorf("signed image: %+v, %v", r, err)
	}
	var ce *CheckError
	if _, err := check(reg.Host + "/team/unsigned:1"); !errors.As(err, &ce) || ce.Check != CheckNoSignature {
		t.Errorf("unsigned image under an entry that needs a signature: %v", err)
	}
	if r, err := check(reg.Host + "/public/base:1"); err != nil || !r.Unsigned {
		t.Errorf("allow-unsigned entry: %+v, %v", r, err)
	}
	if _, err := check(reg.Host + "/elsewhere/x:1"); !errors.As(err, &ce) || ce.Check != CheckNotAllowed {
		t.Errorf("unmatched image: %v", err)
	}
	p = write("version: 1\nimages:\n  - pattern: " + reg.Host + "/team/**\n    authorities: [{key: other.pub}]\n    insecure-ignore-tlog: true\n")
	if _, err := check(signedRepo + ":1"); !errors.As(err, &ce) || ce.Check != CheckKey {
		t.Errorf("signed by a key the policy does not trust: %v", err)
	}

	// Attestations the policy requires.
	p = write("version: 1\nimages:\n  - pattern: " + reg.Host + "/team/**\n    authorities: [{key: cosign.pub}]\n    attestations: [slsaprovenance1]\n    insecure-ignore-tlog: true\n")
	if _, err := check(signedRepo + ":1"); !errors.As(err, &ce) || ce.Check != CheckNoAttestation {
		t.Errorf("signed, but without the provenance the policy wants: %v", err)
	}
	signtest.AttestTag(t, signedRepo, d, signtest.Statement(signedRepo, d, "https://slsa.dev/provenance/v1", map[string]string{}), key)
	if r, err := check(signedRepo + ":1"); err != nil || len(r.Signature.Attestations) != 1 {
		t.Errorf("signed and attested: %+v, %v", r, err)
	}
}

// TestPolicyAnnotations holds images to the annotations a policy entry,
// and a front end beside it, want signed.
func TestPolicyAnnotations(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(filepath.Join(dir, "cosign.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	prodRepo, devRepo := reg.Host+"/team/prod", reg.Host+"/team/dev"
	pd := signtest.Push(t, prodRepo+":1", signtest.Image(t))
	signtest.SignTag(t, prodRepo, pd, signtest.AnnotatedPayload(prodRepo, pd, map[string]string{"env": "prod"}), key, nil)
	dd := signtest.Push(t, devRepo+":1", signtest.Image(t))
	signtest.SignTag(t, devRepo, dd, signtest.AnnotatedPayload(devRepo, dd, map[string]string{"env": "dev"}), key, nil)
	signtest.Push(t, reg.Host+"/public/base:1", signtest.Image(t))
	f := filepath.Join(dir, "policy.yaml")
	os.WriteFile(f, []byte(`version: 1
images:
  - pattern: `+reg.Host+`/public/*
    allow-unsigned: true
  - pattern: `+reg.Host+`/team/**
    authorities: [{key: cosign.pub}]
    annotations: {env: prod}
    insecure-ignore-tlog: true
`), 0o644)
	p, err := LoadPolicy(f)
	if err != nil {
		t.Fatal(err)
	}
	check := func(ref string) (*PolicyResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return p.Verify(context.Background(), r, nil)
	}
	wantCheck := func(what string, err error, check string) {
		t.Helper()
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != check {
			t.Errorf("%s: %v, want the check %q to fail", what, err, check)
		}
	}
	if r, err := check(prodRepo + ":1"); err != nil || r.Signature.Annotations["env"] != "prod" {
		t.Errorf("signed env=prod: %+v, %v", r, err)
	}
	_, err = check(devRepo + ":1")
	wantCheck("signed env=dev", err, CheckAnnotations)

	// What the command line adds must hold too.
	p.RequireAnnotations = map[string]string{"team": "payments"}
	_, err = check(prodRepo + ":1")
	wantCheck("signed env=prod, not team=payments", err, CheckAnnotations)
	_, err = check(reg.Host + "/public/base:1")
	wantCheck("allowed unsigned, with annotations required", err, CheckAnnotations)
	p.RequireAnnotations = map[string]string{"env": "staging"}
	_, err = check(prodRepo + ":1")
	wantCheck("the entry and the command line disagree", err, CheckAnnotations)
}
