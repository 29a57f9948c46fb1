package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/internal/tuftest"
)

// TestVerifyBlob drives `customs verify blob` the way the Sigstore
// conformance suite does, with the real bundles of the shared data.
func TestVerifyBlob(t *testing.T) {
	dir := filepath.Join(testimage.Root(), "..", "shared", "testdata", "sigstore", "sigstore-go")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipping: shared Sigstore data absent: %v", err)
	}
	p := func(rel string) string { return filepath.Join(dir, rel) }
	const digest = "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c"
	keyless := []string{"verify", "blob", "--bundle", p("bundles/sigstore.js@2.0.0-provenance.sigstore.json"), "--trusted-root", p("trusted-roots/public-good.json"),
		"--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"}
	bad := filepath.Join(t.TempDir(), "bad.sigstore.json")
	os.WriteFile(bad, []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {`), 0o644)
	publicGood, err := os.ReadFile(p("trusted-roots/public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	tufRepo := tuftest.Serve(t, map[string][]byte{"trusted_root.json": publicGood})
	tufRoot := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(tufRoot, tufRepo.Root, 0o644)
	// A real bundle whose certificate is not DER.
	var withBadCert map[string]any
	raw, _ := os.ReadFile(p("bundles/sigstore.js@2.0.0-provenance.sigstore.json"))
	json.Unmarshal(raw, &withBadCert)
	certs := withBadCert["verificationMaterial"].(map[string]any)["x509CertificateChain"].(map[string]any)["certificates"].([]any)
	certs[0].(map[string]any)["rawBytes"] = "Z2FyYmFnZQ=="
	badCert := filepath.Join(t.TempDir(), "bad-cert.sigstore.json")
	raw, _ = json.Marshal(withBadCert)
	os.WriteFile(badCert, raw, 0o644)
	badKey := filepath.Join(t.TempDir(), "bad.pub")
	os.WriteFile(badKey, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"verifies", append(keyless, "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main", digest), 0, "Verified OK"},
		{"github workflow claims", append(keyless, "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
			"--certificate-github-workflow-repository", "sigstore/sigstore-js", "--certificate-github-workflow-ref", "refs/heads/main", digest), 0, "Verified OK"},
		{"github workflow repository changed", append(keyless, "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
			"--certificate-github-workflow-repository", "evil/sigstore-js", digest), 1, "identity mismatch"},
		{"trusted root through TUF", []string{"verify", "blob", "--bundle", p("bundles/sigstore.js@2.0.0-provenance.sigstore.json"), "--tuf-mirror", tufRepo.URL, "--tuf-root", tufRoot,
			"--certificate-oidc-issuer", "https://token.actions.githubusercontent.com", "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main", digest}, 0, "Verified OK"},
		{"identity changed", append(keyless, "--certificate-identity", "https://github.com/evil/x/.github/workflows/release.yml@refs/heads/main", digest), 1, "identity mismatch"},
		{"artifact changed", append(keyless, "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main", "sha512:"+strings.Repeat("ab", 64)), 1, "digest mismatch"},
		{"too old", append(keyless, "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main", "--max-age", "720h", digest), 1, "signature too old"},
		{"key-signed", []string{"verify", "blob", "--bundle", p("examples/bundle-publish.json"), "--trusted-root", p("examples/trusted-root-public-good.json"), "--key", p("examples/publish_key.pub"),
			"sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751"}, 0, "signer: key"},
		{"malformed bundle", []string{"verify", "blob", "--bundle", bad, "--trusted-root", p("trusted-roots/public-good.json"), "--key", p("examples/publish_key.pub"), "sha256:00"}, 2, "bad.sigstore.json"},
		{"malformed certificate", []string{"verify", "blob", "--bundle", badCert, "--trusted-root", p("trusted-roots/public-good.json"), "--certificate-identity", "x", "--certificate-oidc-issuer", "y", digest}, 2, "malformed bundle"},
		{"malformed key", []string{"verify", "blob", "--bundle", p("examples/bundle-publish.json"), "--trusted-root", p("trusted-roots/public-good.json"), "--key", badKey, "sha256:00"}, 2, "public key"},
		{"no identity", []string{"verify", "blob", "--bundle", p("examples/bundle-publish.json"), "--trusted-root", p("trusted-roots/public-good.json"), "sha256:00"}, 2, "say who must have signed"},
		{"malformed digest", append(keyless, "--certificate-identity", "x", "sha512:zz"), 2, "invalid sha512 digest"},
		{"short digest", append(keyless, "--certificate-identity", "x", "sha512:abcd"), 2, "want 128 hex digits"},
		{"directory as artifact", append(keyless, "--certificate-identity", "x", dir), 2, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d; output does not mention %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// TestVerifyImage drives `customs verify IMAGE` against a real registry
// with a cosign-style signature made in the test.
func TestVerifyImage(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
		return p
	}
	good, bad := writeKey("cosign.pub", key), writeKey("other.pub", other)
	repo := reg.Host + "/app"
	d := signtest.Push(t, repo+":1", signtest.Image(t))
	signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, nil)
	signtest.Push(t, repo+":unsigned", signtest.Image(t))
	const slsa1 = "https://slsa.dev/provenance/v1"
	signtest.AttestTag(t, repo, d, signtest.Statement(repo, d, slsa1, map[string]string{"builder": "ci.example"}), key)
	policy := filepath.Join(dir, "trust.yaml")
	os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    authorities: [{key: cosign.pub}]\n    attestations: [slsaprovenance1]\n    insecure-ignore-tlog: true\n"), 0o644)
	denying := filepath.Join(dir, "deny.yaml")
	os.WriteFile(denying, []byte("version: 1\nimages:\n  - pattern: elsewhere.example/**\n    allow-unsigned: true\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"verifies", []string{"verify", repo + ":1", "--key", good, "--insecure-ignore-tlog"}, 0, "Verified OK: " + repo + "@" + d.String()},
		{"attestation", []string{"verify", repo + ":1", "--key", good, "--insecure-ignore-tlog", "--attestation", "slsaprovenance1"}, 0, "attestation: " + slsa1 + " (tag scheme)"},
		{"predicate", []string{"verify", repo + ":1", "--key", good, "--insecure-ignore-tlog", "--attestation", slsa1, "--print-predicate"}, 0, `{"builder":"ci.example"}`},
		{"missing attestation", []string{"verify", repo + ":1", "--key", good, "--insecure-ignore-tlog", "--attestation", "cyclonedx"}, 1, "no attestation found"},
		{"unknown attestation type", []string{"verify", repo + ":1", "--key", good, "--insecure-ignore-tlog", "--attestation", "sbom"}, 2, "unknown attestation type"},
		{"policy", []string{"verify", repo + ":1", "--policy", policy}, 0, "policy entry: " + reg.Host + "/**"},
		{"policy, unsigned", []string{"verify", repo + ":unsigned", "--policy", policy}, 1, "no signature found"},
		{"policy denies", []string{"verify", repo + ":1", "--policy", denying}, 1, "image not allowed by the trust policy"},
		{"policy and a key", []string{"verify", repo + ":1", "--policy", policy, "--key", good}, 2, "drop the trust flags"},
		{"bad multi-arch", []string{"verify", repo + ":1", "--key", good, "--insecure-ignore-tlog", "--multi-arch", "all"}, 2, "use index or each"},
		{"another key", []string{"verify", repo + ":1", "--key", bad, "--insecure-ignore-tlog"}, 1, "key mismatch"},
		{"unsigned tag", []string{"verify", repo + ":unsigned", "--key", good, "--insecure-ignore-tlog"}, 1, "no signature found"},
		{"no log, not waived, no root, offline", []string{"verify", repo + ":1", "--key", good, "--tuf-mirror", "http://127.0.0.1:1", "--tuf-root", good}, 1, "pass --insecure-ignore-tlog"},
		{"not a registry image", []string{"verify", "oci:" + dir, "--key", good, "--insecure-ignore-tlog"}, 2, "not an image in a registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d; output does not mention %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// TestScanWithTrustPolicy checks that `customs scan --policy` scans the
// digest that verified, and fails (exit 1, with the check named in the
// report) when verification fails.
func TestScanWithTrustPolicy(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(filepath.Join(dir, "cosign.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    authorities: [{key: cosign.pub}]\n    insecure-ignore-tlog: true\n"), 0o644)
	repo := reg.Host + "/app"
	d := signtest.Push(t, repo+":1", signtest.Image(t))
	signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, nil)
	signtest.Push(t, repo+":unsigned", signtest.Image(t))
	db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	env := cacheEnv(t)

	out := filepath.Join(dir, "signed.json")
	stdout, stderr, code := customs(t, env, "scan", repo+":1", "--policy", policy, "--db", db, "-o", "json="+out, "-o", "table")
	report, _ := os.ReadFile(out)
	if code != 0 || !strings.Contains(stdout, "signature: verified "+d.String()+", signed by key") ||
		!strings.Contains(string(report), `"digest": "`+d.String()) || !strings.Contains(string(report), `"passed": true`) {
		t.Errorf("signed image: exit %d\n%s%s\n%s", code, stdout, stderr, report)
	}

	out = filepath.Join(dir, "unsigned.json")
	stdout, stderr, code = customs(t, env, "scan", repo+":unsigned", "--policy", policy, "--db", db, "-o", "json="+out)
	report, _ = os.ReadFile(out)
	if code != 1 || !strings.Contains(stderr, "no signature found") || !strings.Contains(string(report), `"check": "no signature found"`) {
		t.Errorf("unsigned image: exit %d\n%s%s\n%s", code, stdout, stderr, report)
	}

	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("version: 1\nimages:\n  - pattern: x\n"), 0o644)
	_, stderr, code = customs(t, env, "scan", repo+":1", "--policy", filepath.Join(dir, "bad.yaml"), "--db", db)
	if code != 2 || !strings.Contains(stderr, "bad.yaml:3") {
		t.Errorf("malformed policy: exit %d, stderr %q; want 2 and the line", code, stderr)
	}
}

// TestVerifySCT checks that a keyless certificate whose SCT no CT log of
// the trusted root signed fails the sct check, in `customs verify blob`,
// `customs verify IMAGE` and through a trust policy, and that the opt-outs
// pass it with a warning that names them.
func TestVerifySCT(t *testing.T) {
	s := signtest.NewSigstore(t)
	const who, issuer = "release@example.com", "https://issuer.example.com"
	dir := t.TempDir()
	trustedRoot := filepath.Join(dir, "trusted_root.json")
	os.WriteFile(trustedRoot, s.TrustedRootJSON(t), 0o644)
	artifact := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(artifact, []byte("the artifact"), 0o644)
	writeBundle := func(name string, sct signtest.SCT) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, s.Sign(t, who, issuer, []byte("the artifact"), signtest.SignOptions{SCT: sct}).Bundle(t), 0o644)
		return p
	}
	trusted, unknown := writeBundle("trusted.sigstore.json", signtest.SCTTrusted), writeBundle("unknown.sigstore.json", signtest.SCTUnknownLog)
	blob := func(bundle string, extra ...string) []string {
		return append([]string{"verify", "blob", "--bundle", bundle, "--trusted-root", trustedRoot,
			"--certificate-identity", who, "--certificate-oidc-issuer", issuer, artifact}, extra...)
	}

	reg := registrytest.Start(t, registrytest.Options{})
	repo := reg.Host + "/app"
	img := signtest.Image(t)
	signtest.Push(t, repo+":1", img)
	raw, _ := img.RawManifest()
	signtest.AttachBundle(t, repo, img, s.Sign(t, who, issuer, raw, signtest.SignOptions{SCT: signtest.SCTUnknownLog}).Bundle(t), "")
	image := []string{"verify", repo + ":1", "--trusted-root", trustedRoot, "--certificate-identity", who, "--certificate-oidc-issuer", issuer}
	writePolicy := func(name, waive string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("version: 1\ntrusted-root: trusted_root.json\nimages:\n  - pattern: "+reg.Host+"/**\n"+
			"    authorities: [{identity: "+who+", issuer: \""+issuer+"\"}]\n"+waive), 0o644)
		return p
	}
	strict, lax := writePolicy("strict.yaml", ""), writePolicy("lax.yaml", "    insecure-ignore-sct: true\n")

	const flagWarning = "warning: --insecure-ignore-sct: certificates are accepted without a signed certificate timestamp from a trusted CT log"
	policyWarning := "lax.yaml:4: insecure-ignore-sct: certificates for " + reg.Host + "/** are accepted without"
	for _, tc := range []struct {
		name        string
		args        []string
		code        int
		want        string
		wantWarning string // "" means no warning
	}{
		{"blob, SCT from the trusted CT log", blob(trusted), 0, "Verified OK", ""},
		{"blob, SCT from an unknown CT log", blob(unknown), 1, "verification failed: sct:", ""},
		{"blob, SCT from an unknown CT log, waived", blob(unknown, "--insecure-ignore-sct"), 0, "Verified OK", flagWarning},
		{"image, SCT from an unknown CT log", image, 1, "verification failed: sct:", ""},
		{"image, SCT from an unknown CT log, waived", append(image, "--insecure-ignore-sct"), 0, "Verified OK", flagWarning},
		{"policy, SCT from an unknown CT log", []string{"verify", repo + ":1", "--policy", strict}, 1, "verification failed: sct:", ""},
		{"policy, SCT from an unknown CT log, waived", []string{"verify", repo + ":1", "--policy", lax}, 0, "policy entry: " + reg.Host + "/**", policyWarning},
		{"policy and the flag", []string{"verify", repo + ":1", "--policy", lax, "--insecure-ignore-sct"}, 2, "drop the trust flags", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d; output does not mention %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if tc.wantWarning == "" && strings.Contains(stderr, "warning") {
				t.Errorf("stderr warns, want no warning:\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.wantWarning) {
				t.Errorf("stderr does not warn %q:\n%s", tc.wantWarning, stderr)
			}
		})
	}

	t.Run("scan --policy", func(t *testing.T) {
		db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
		out := filepath.Join(t.TempDir(), "report.json")
		stdout, stderr, code := customs(t, cacheEnv(t), "scan", repo+":1", "--policy", strict, "--db", db, "-o", "json="+out)
		report, _ := os.ReadFile(out)
		if code != 1 || !strings.Contains(string(report), `"check": "sct"`) {
			t.Errorf("strict policy: exit %d, want 1 and the sct check in the report\n%s%s\n%s", code, stdout, stderr, report)
		}
		stdout, stderr, code = customs(t, cacheEnv(t), "scan", repo+":1", "--policy", lax, "--db", db, "-o", "table")
		if code != 0 || !strings.Contains(stderr, policyWarning) || !strings.Contains(stdout, "signed by "+who) {
			t.Errorf("lax policy: exit %d, want 0, the warning %q and the signer\n%s%s", code, policyWarning, stdout, stderr)
		}
	})
}
