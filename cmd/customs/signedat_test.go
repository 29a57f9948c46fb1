package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// offline are settings under which any fetch of the trusted root fails
// at once: a test that passes them and gets another answer shows that
// the answer came without the network.
func offline(t *testing.T) []string {
	bogus := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(bogus, []byte("{}"), 0o644)
	return []string{"--tuf-mirror", "http://127.0.0.1:1", "--tuf-root", bogus}
}

func writePublicKey(t *testing.T, path string, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	return path
}

// TestVerifyUnknownSigningTime checks what --insecure-ignore-tlog does to
// the signing time: a signature that no log entry or signed timestamp
// dates has none (the text says unknown, JSON leaves it out), --max-age
// and a policy's max-age fail for it saying why, and every waiver is
// warned about, in verify and in scan --policy.
func TestVerifyUnknownSigningTime(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	pub := writePublicKey(t, filepath.Join(dir, "cosign.pub"), key)
	repo := reg.Host + "/app"
	d := signtest.Push(t, repo+":1", signtest.Image(t))
	signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, nil)

	blob := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(blob, []byte("the blob"), 0o644)
	sum := sha256.Sum256([]byte("the blob"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	bundle := filepath.Join(dir, "app.bundle")
	os.WriteFile(bundle, signtest.LegacyBundle(t, sig, nil, nil), 0o644)

	writePolicy := func(name, extra string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    authorities: [{key: cosign.pub}]\n    insecure-ignore-tlog: true\n"+extra), 0o644)
		return p
	}
	lax, fresh := writePolicy("lax.yaml", ""), writePolicy("fresh.yaml", "    max-age: 60s\n")

	const flagWarning = "warning: --insecure-ignore-tlog: signatures are accepted without a transparency-log entry or signed timestamp"
	policyWarning := "lax.yaml:3: insecure-ignore-tlog: signatures for " + reg.Host + "/** are accepted without"
	const why = "no verified signing time, so its age is unknown: the transparency log was ignored, and the signature carries neither a transparency-log entry nor a signed timestamp"
	image := []string{"verify", repo + ":1", "--key", pub, "--insecure-ignore-tlog"}
	blobArgs := []string{"verify", "blob", "--bundle", bundle, "--key", pub, "--insecure-ignore-tlog", blob}
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		want    string
		warning string
	}{
		{"image, text", image, 0, "signed at: unknown", flagWarning},
		{"image, max age", append(image, "--max-age", "60s"), 1, "signature too old: " + why, flagWarning},
		{"blob, text", blobArgs, 0, "signed at: unknown", flagWarning},
		{"blob, max age", append(blobArgs, "--max-age", "60s"), 1, "signature too old: " + why, flagWarning},
		{"policy", []string{"verify", repo + ":1", "--policy", lax}, 0, "signed at: unknown", policyWarning},
		{"policy, max age", []string{"verify", repo + ":1", "--policy", fresh}, 1, "signature too old: " + why, "fresh.yaml:3: insecure-ignore-tlog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, want %d; output does not mention %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.warning) {
				t.Errorf("stderr does not warn %q:\n%s", tc.warning, stderr)
			}
		})
	}

	t.Run("JSON leaves the signing time out", func(t *testing.T) {
		for _, args := range [][]string{image, blobArgs, {"verify", repo + ":1", "--policy", lax}} {
			stdout, stderr, code := customs(t, cacheEnv(t), append(args, "-o", "json")...)
			if code != 0 || !json.Valid([]byte(stdout)) || strings.Contains(stdout, "signed_at") {
				t.Errorf("%s: exit %d, want 0 and JSON without signed_at:\n%s%s", args, code, stdout, stderr)
			}
		}
	})

	t.Run("scan --policy", func(t *testing.T) {
		db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
		out := filepath.Join(t.TempDir(), "report.json")
		stdout, stderr, code := customs(t, cacheEnv(t), "scan", repo+":1", "--policy", lax, "--db", db, "-o", "table", "-o", "json="+out)
		report, _ := os.ReadFile(out)
		if code != 0 || !strings.Contains(stderr, policyWarning) || !strings.Contains(stdout, "signed by key at an unknown time") ||
			!strings.Contains(string(report), `"signer": "key"`) || strings.Contains(string(report), "signed_at") {
			t.Errorf("exit %d, want 0, the warning %q, an unknown time in the table and none in the report\n%s%s\n%s", code, policyWarning, stdout, stderr, report)
		}
	})
}

// TestVerifyLegacyBundle drives `customs verify blob` with the bundle
// cosign v2 writes without --new-bundle-format, signed with a Sigstore of
// the test's own.
func TestVerifyLegacyBundle(t *testing.T) {
	s := signtest.NewSigstore(t)
	dir := t.TempDir()
	trustedRoot := filepath.Join(dir, "trusted_root.json")
	os.WriteFile(trustedRoot, s.TrustedRootJSON(t), 0o644)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, otherPub := writePublicKey(t, filepath.Join(dir, "cosign.pub"), key), writePublicKey(t, filepath.Join(dir, "other.pub"), other)
	blob, tampered := filepath.Join(dir, "app.tar.gz"), filepath.Join(dir, "tampered.tar.gz")
	os.WriteFile(blob, []byte("the blob"), 0o644)
	os.WriteFile(tampered, []byte("the blob, changed"), 0o644)
	sum := sha256.Sum256([]byte("the blob"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	signedAt := time.Unix(time.Now().Unix(), 0)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	logged := signtest.LegacyBundle(t, sig, nil, s.LogKeySignature(t, &key.PublicKey, sum[:], sig, signedAt))
	var m map[string]any
	json.Unmarshal(logged, &m)
	set, _ := base64.StdEncoding.DecodeString(m["rekorBundle"].(map[string]any)["SignedEntryTimestamp"].(string))
	set[len(set)/2] ^= 1
	m["rekorBundle"].(map[string]any)["SignedEntryTimestamp"] = base64.StdEncoding.EncodeToString(set)
	badSET, _ := json.Marshal(m)

	keyed := write("key.bundle", logged)
	unlogged := write("unlogged.bundle", signtest.LegacyBundle(t, sig, nil, nil))
	const who, issuer = "release@example.com", "https://issuer.example.com"
	keyless := write("keyless.bundle", s.Sign(t, who, issuer, []byte("the blob"), signtest.SignOptions{}).LegacyBundle(t))
	bad := write("bad-set.bundle", badSET)
	notBase64 := write("not-base64.bundle", []byte(`{"base64Signature": "!!"}`))
	neither := write("neither.bundle", []byte(`{"signature": "AAAA"}`))
	truncated := write("truncated.bundle", logged[:len(logged)/2])

	withKey := func(bundle, key, artifact string, extra ...string) []string {
		return append([]string{"verify", "blob", "--bundle", bundle, "--trusted-root", trustedRoot, "--key", key, artifact}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"key-signed, logged", withKey(keyed, pub, blob), 0, []string{"Verified OK", "signer: key", "signed at: " + signedAt.UTC().Format(time.RFC3339), "log index: 1000"}},
		{"key-signed, logged, as a digest", withKey(keyed, pub, "sha256:"+hex.EncodeToString(sum[:])), 0, []string{"Verified OK"}},
		{"keyless", []string{"verify", "blob", "--bundle", keyless, "--trusted-root", trustedRoot, "--certificate-identity", who, "--certificate-oidc-issuer", issuer, blob}, 0, []string{"Verified OK", "signer: " + who}},
		{"keyless, another identity", []string{"verify", "blob", "--bundle", keyless, "--trusted-root", trustedRoot, "--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", issuer, blob}, 1, []string{"identity mismatch"}},
		{"tampered blob", withKey(keyed, pub, tampered), 1, []string{"digest mismatch"}},
		{"another key", withKey(keyed, otherPub, blob), 1, []string{"key mismatch"}},
		{"signed entry timestamp changed", withKey(bad, pub, blob), 1, []string{"no transparency-log proof"}},
		{"a sha512 digest", withKey(keyed, pub, "sha512:"+strings.Repeat("ab", 64)), 2, []string{"signs the SHA-256 digest"}},
		{"signature not base64", withKey(notBase64, pub, blob), 2, []string{"not-base64.bundle", "malformed cosign bundle: base64Signature"}},
		{"neither format", withKey(neither, pub, blob), 2, []string{"neither.bundle", "neither a Sigstore bundle (no mediaType) nor cosign's bundle (no base64Signature)"}},
		{"truncated", withKey(truncated, pub, blob), 2, []string{"truncated.bundle", "parsing bundle"}},
		// The entry's absence is found without the trusted root, which
		// would come over the network.
		{"not logged", append([]string{"verify", "blob", "--bundle", unlogged, "--key", pub, blob}, offline(t)...), 1,
			[]string{"no transparency-log proof: the signature has no transparency-log entry and no signed timestamp (pass --insecure-ignore-tlog to accept signatures without one)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout+stderr, w) {
					t.Errorf("output does not mention %q:\n%s%s", w, stdout, stderr)
				}
			}
		})
	}
}

// TestVerifyUsageBeforeNetwork checks that a command that cannot say what
// to verify is refused as such (exit 2) before the trusted root is
// fetched or the registry asked, and that a key signature without a log
// entry fails the log check without either being needed.
func TestVerifyUsageBeforeNetwork(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	pub := writePublicKey(t, filepath.Join(dir, "cosign.pub"), key)
	repo := reg.Host + "/app"
	d := signtest.Push(t, repo+":1", signtest.Image(t))
	signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, nil)
	bundle := filepath.Join(dir, "app.bundle")
	os.WriteFile(bundle, signtest.LegacyBundle(t, []byte("sig"), nil, nil), 0o644)
	const usage = "say who must have signed: --key FILE, or --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]"

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"image, no key, no identity", []string{"verify", "127.0.0.1:1/app:1"}, 2, usage},
		{"image, an identity without an issuer", []string{"verify", "127.0.0.1:1/app:1", "--certificate-identity", "x"}, 2, usage},
		{"blob, no key, no identity", []string{"verify", "blob", "--bundle", bundle, "sha256:" + strings.Repeat("00", 32)}, 2, usage},
		{"image, key, no log entry", []string{"verify", repo + ":1", "--key", pub}, 1,
			"no transparency-log proof: the signature has no transparency-log entry and no signed timestamp (pass --insecure-ignore-tlog to accept signatures without one)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, cacheEnv(t), append(tc.args, offline(t)...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if strings.Contains(stderr, "TUF") || strings.Contains(stderr, "cannot reach") {
				t.Errorf("the network was reached for:\n%s", stderr)
			}
		})
	}
}
