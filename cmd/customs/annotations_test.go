package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestAnnotations drives -a/--annotations of `customs verify` and
// `customs scan --policy`: the signature must sign each annotation, as
// cosign verify -a checks the ones cosign sign -a wrote.
func TestAnnotations(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := filepath.Join(dir, "cosign.pub")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	policy := filepath.Join(dir, "trust.yaml")
	os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    authorities: [{key: cosign.pub}]\n    insecure-ignore-tlog: true\n"), 0o644)
	annotated := filepath.Join(dir, "annotated.yaml")
	os.WriteFile(annotated, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    authorities: [{key: cosign.pub}]\n    annotations: {env: prod}\n    insecure-ignore-tlog: true\n"), 0o644)
	repo := reg.Host + "/app"
	d := signtest.Push(t, repo+":1", signtest.Image(t))
	signtest.SignTag(t, repo, d, signtest.AnnotatedPayload(repo, d, map[string]string{"env": "prod", "team": "payments"}), key, nil)
	byKey := []string{"verify", repo + ":1", "--key", pub, "--insecure-ignore-tlog"}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"signed", append(byKey, "-a", "env=prod"), 0, "annotation: env=prod"},
		{"all signed", append(byKey, "-a", "env=prod", "--annotations", "team=payments"), 0, "annotation: team=payments"},
		{"wrong value", append(byKey, "-a", "env=dev"), 1, `verification failed: annotations: the signed annotation env is "prod", want "dev"`},
		{"not signed", append(byKey, "--annotations", "region=eu"), 1, "does not sign the annotation region"},
		{"json", append(byKey, "-a", "env=prod", "-o", "json"), 0, `"annotations": {`},
		{"not KEY=VALUE", append(byKey, "-a", "env"), 2, "want KEY=VALUE"},
		{"policy and -a", []string{"verify", repo + ":1", "--policy", policy, "-a", "env=prod"}, 0, "annotation: env=prod"},
		{"policy and -a, wrong value", []string{"verify", repo + ":1", "--policy", policy, "-a", "env=dev"}, 1, "annotations"},
		{"policy entry's annotations", []string{"verify", repo + ":1", "--policy", annotated}, 0, "policy entry"},
		{"policy entry's annotations and -a disagree", []string{"verify", repo + ":1", "--policy", annotated, "-a", "env=dev"}, 1, "annotations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d; output does not mention %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}

	db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	env := cacheEnv(t)
	t.Run("scan", func(t *testing.T) {
		out := filepath.Join(dir, "signed.json")
		stdout, stderr, code := customs(t, env, "scan", repo+":1", "--policy", policy, "-a", "env=prod", "--db", db, "-o", "json="+out)
		report, _ := os.ReadFile(out)
		if code != 0 || !strings.Contains(string(report), `"annotations": {`) || !strings.Contains(string(report), `"env": "prod"`) {
			t.Errorf("exit %d\n%s%s\n%s", code, stdout, stderr, report)
		}
		out = filepath.Join(dir, "wrong.json")
		stdout, stderr, code = customs(t, env, "scan", repo+":1", "--policy", policy, "-a", "env=dev", "--db", db, "-o", "json="+out)
		report, _ = os.ReadFile(out)
		if code != 1 || !strings.Contains(string(report), `"check": "annotations"`) {
			t.Errorf("env=dev: exit %d, want 1 and the annotations check in the report\n%s%s\n%s", code, stdout, stderr, report)
		}
		_, stderr, code = customs(t, env, "scan", repo+":1", "-a", "env=prod", "--db", db)
		if code != 2 || !strings.Contains(stderr, "give --policy") {
			t.Errorf("-a without --policy: exit %d, stderr %q; want 2", code, stderr)
		}
	})
}
