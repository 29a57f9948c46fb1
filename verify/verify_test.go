package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/customs-dev/customs/internal/testimage"
)

func shared(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(testimage.Root(), "..", "shared", "testdata", "sigstore", "sigstore-go", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("skipping: shared Sigstore data absent (%s); see ../shared/testdata/README.md", p)
	}
	return p
}

func digest(t *testing.T, alg, hexOrB64 string) Artifact {
	t.Helper()
	d, err := hex.DecodeString(hexOrB64)
	if err != nil {
		d, err = base64.StdEncoding.DecodeString(hexOrB64)
		if err != nil {
			t.Fatal(err)
		}
	}
	return Artifact{DigestAlgorithm: alg, Digest: d}
}

const (
	sigstoreJSIdentity = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
	githubIssuer       = "https://token.actions.githubusercontent.com"
	sigstoreJSDigest   = "46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c"
	publishDigest      = "76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751"
)

// TestRealBundles verifies the real bundles of the shared data offline
// and checks that changing the artifact, the identity or the key fails
// with the check named.
func TestRealBundles(t *testing.T) {
	publicGood, err := LoadTrustedRoot(shared(t, "trusted-roots/public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	examplesRoot, err := LoadTrustedRoot(shared(t, "examples/trusted-root-public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	keyValidityRoot, err := LoadTrustedRoot(shared(t, "trusted-roots/public-key-validity.json"))
	if err != nil {
		t.Fatal(err)
	}
	publishKey, err := LoadKey(shared(t, "examples/publish_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	validityKey, err := LoadKey(shared(t, "public-keys/public-key-validity.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// The public-good root without its CT logs: the real certificate's
	// SCT is then from a log the root does not trust.
	var noCT map[string]any
	raw, err := os.ReadFile(shared(t, "trusted-roots/public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &noCT); err != nil {
		t.Fatal(err)
	}
	delete(noCT, "ctlogs")
	raw, _ = json.Marshal(noCT)
	publicGoodNoCT, err := root.NewTrustedRootFromJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyless := &Identity{Subject: sigstoreJSIdentity, Issuer: githubIssuer}

	for _, tc := range []struct {
		name      string
		bundle    string
		artifact  Artifact
		opts      Options
		wantCheck string // "" means it verifies
	}{
		{"keyless provenance", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest), Options{TrustedRoot: publicGood, Identity: keyless}, ""},
		{"keyless provenance with a regexp identity", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest),
			Options{TrustedRoot: publicGood, Identity: &Identity{SubjectRegexp: `^https://github\.com/sigstore/`, Issuer: githubIssuer}}, ""},
		{"keyless, artifact changed", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", strings.Repeat("00", 64)), Options{TrustedRoot: publicGood, Identity: keyless}, CheckDigest},
		{"keyless, wrong identity", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest),
			Options{TrustedRoot: publicGood, Identity: &Identity{Subject: "https://github.com/evil/repo/.github/workflows/release.yml@refs/heads/main", Issuer: githubIssuer}}, CheckIdentity},
		{"keyless, wrong issuer", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest),
			Options{TrustedRoot: publicGood, Identity: &Identity{Subject: sigstoreJSIdentity, Issuer: "https://accounts.google.com"}}, CheckIdentity},
		{"keyless, too old", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest),
			Options{TrustedRoot: publicGood, Identity: keyless, MaxAge: 24 * time.Hour}, CheckTooOld},
		{"keyless, CT log not in the trusted root", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest),
			Options{TrustedRoot: publicGoodNoCT, Identity: keyless}, CheckSCT},
		{"keyless, CT log not in the trusted root, SCT waived", "bundles/sigstore.js@2.0.0-provenance.sigstore.json", digest(t, "sha512", sigstoreJSDigest),
			Options{TrustedRoot: publicGoodNoCT, Identity: keyless, InsecureIgnoreSCT: true}, ""},
		{"key-signed publish attestation", "examples/bundle-publish.json", digest(t, "sha512", publishDigest), Options{TrustedRoot: examplesRoot, Key: publishKey}, ""},
		{"key-signed, another key", "examples/bundle-publish.json", digest(t, "sha512", publishDigest), Options{TrustedRoot: examplesRoot, Key: &otherKey.PublicKey}, CheckKey},
		{"key-signed, artifact changed", "examples/bundle-publish.json", digest(t, "sha512", strings.Repeat("11", 64)), Options{TrustedRoot: examplesRoot, Key: publishKey}, CheckDigest},
		{"RFC 3161 timestamp only", "bundles/public-key-validity.sigstore.json", digest(t, "sha256", "auinVVUgn9bEQVfArtgBbnY/9DWhnPGG92hjFAFD/3I="), Options{TrustedRoot: keyValidityRoot, Key: validityKey}, ""},
		{"RFC 3161 timestamp only, another key", "bundles/public-key-validity.sigstore.json", digest(t, "sha256", "auinVVUgn9bEQVfArtgBbnY/9DWhnPGG92hjFAFD/3I="), Options{TrustedRoot: keyValidityRoot, Key: &otherKey.PublicKey}, CheckKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := LoadBundle(shared(t, tc.bundle))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Entity(b, tc.artifact, tc.opts)
			if tc.wantCheck == "" {
				if err != nil {
					t.Fatalf("Entity: %v", err)
				}
				if res.SignedAt.IsZero() {
					t.Errorf("no verified signing time")
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.wantCheck {
				t.Fatalf("Entity: err = %v, want the %q check to fail", err, tc.wantCheck)
			}
			if !strings.Contains(err.Error(), tc.wantCheck) {
				t.Errorf("message %q does not name the check", err)
			}
		})
	}
}

func FuzzParseBundle(f *testing.F) {
	for _, p := range []string{"bundles/sigstore.js@2.0.0-provenance.sigstore.json", "bundles/public-key-validity.sigstore.json", "examples/bundle-publish.json"} {
		if b, err := os.ReadFile(filepath.Join(testimage.Root(), "..", "shared", "testdata", "sigstore", "sigstore-go", p)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bun, err := ParseBundle(b)
		if err != nil {
			return
		}
		// Whatever parses must be refused or verified, never crash.
		Entity(bun, Artifact{DigestAlgorithm: "sha256", Digest: make([]byte, 32)}, Options{Identity: &Identity{Subject: "x", Issuer: "y"}, Key: nil, TrustedRoot: nil})
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) { ParseKey(b) })
}
