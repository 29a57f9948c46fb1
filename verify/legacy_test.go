package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/signtest"
)

// legacyFixture signs a blob the ways `cosign sign-blob --bundle` does
// without --new-bundle-format, with a Sigstore of the test's own.
type legacyFixture struct {
	s    *signtest.Sigstore
	blob []byte
	key  *ecdsa.PrivateKey
	// madeAt is when the key signature was made and logged.
	madeAt time.Time
	// Bundles: key-signed and logged, key-signed and not logged, keyless.
	logged, unlogged, keyless []byte
}

const legacySigner, legacyIssuer = "release@example.com", "https://issuer.example.com"

func newLegacyFixture(t *testing.T) *legacyFixture {
	f := &legacyFixture{s: signtest.NewSigstore(t), blob: []byte("the blob")}
	f.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256(f.blob)
	sig, err := ecdsa.SignASN1(rand.Reader, f.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	// Rekor's integrated time is in whole seconds.
	f.madeAt = time.Unix(time.Now().Unix(), 0)
	f.logged = signtest.LegacyBundle(t, sig, nil, f.s.LogKeySignature(t, &f.key.PublicKey, digest[:], sig, f.madeAt))
	f.unlogged = signtest.LegacyBundle(t, sig, nil, nil)
	f.keyless = f.s.Sign(t, legacySigner, legacyIssuer, f.blob, signtest.SignOptions{}).LegacyBundle(t)
	return f
}

// edit changes a legacy bundle's JSON, as an attacker would.
func edit(t *testing.T, b []byte, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLegacyBundle verifies cosign v2's own blob bundle (what `cosign
// sign-blob --bundle` writes without --new-bundle-format) with the same
// checks as a Sigstore bundle: the key or the certificate's identity, the
// Rekor entry's signed entry timestamp, the certificate's SCT.
func TestLegacyBundle(t *testing.T) {
	f := newLegacyFixture(t)
	pub := &f.key.PublicKey
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	right := &Identity{Subject: legacySigner, Issuer: legacyIssuer}
	sum := sha256.Sum256(f.blob)
	badSET := edit(t, f.logged, func(m map[string]any) {
		rb := m["rekorBundle"].(map[string]any)
		set, _ := base64.StdEncoding.DecodeString(rb["SignedEntryTimestamp"].(string))
		set[len(set)/2] ^= 1
		rb["SignedEntryTimestamp"] = base64.StdEncoding.EncodeToString(set)
	})
	backdated := edit(t, f.logged, func(m map[string]any) {
		p := m["rekorBundle"].(map[string]any)["Payload"].(map[string]any)
		p["integratedTime"] = f.madeAt.Add(-24 * time.Hour).Unix()
	})

	for _, tc := range []struct {
		name     string
		bundle   []byte
		artifact []byte // nil: the blob's SHA-256 digest
		opts     Options
		check    string // "" means it verifies
	}{
		{"key-signed and logged", f.logged, f.blob, Options{TrustedRoot: f.s, Key: pub}, ""},
		{"key-signed and logged, the blob as a digest", f.logged, nil, Options{TrustedRoot: f.s, Key: pub}, ""},
		{"keyless", f.keyless, f.blob, Options{TrustedRoot: f.s, Identity: right}, ""},
		{"tampered blob", f.logged, []byte("the blob, changed"), Options{TrustedRoot: f.s, Key: pub}, CheckDigest},
		{"another key", f.logged, f.blob, Options{TrustedRoot: f.s, Key: &other.PublicKey}, CheckKey},
		{"signed entry timestamp changed", badSET, f.blob, Options{TrustedRoot: f.s, Key: pub}, CheckTlog},
		{"integrated time changed", backdated, f.blob, Options{TrustedRoot: f.s, Key: pub}, CheckTlog},
		{"not logged", f.unlogged, f.blob, Options{TrustedRoot: f.s, Key: pub}, CheckTlog},
		{"keyless, another identity", f.keyless, f.blob, Options{TrustedRoot: f.s, Identity: &Identity{Subject: "mallory@example.com", Issuer: legacyIssuer}}, CheckIdentity},
		{"keyless, tampered blob", f.keyless, []byte("the blob, changed"), Options{TrustedRoot: f.s, Identity: right}, CheckDigest},
		{"keyless, checked against a key", f.keyless, f.blob, Options{TrustedRoot: f.s, Key: pub}, CheckKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBlobBundle(tc.bundle)
			if err != nil {
				t.Fatalf("ParseBlobBundle: %v", err)
			}
			if b.Legacy == nil {
				t.Fatalf("ParseBlobBundle(%s) is not read as cosign's bundle", tc.bundle)
			}
			art := Artifact{DigestAlgorithm: "sha256", Digest: sum[:]}
			if tc.artifact != nil {
				art = Artifact{Content: bytes.NewReader(tc.artifact)}
			}
			res, err := Blob(b, art, tc.opts)
			if tc.check == "" {
				if err != nil {
					t.Fatalf("Blob: %v", err)
				}
				if res.SignedAt.IsZero() || res.LogIndex < 0 {
					t.Errorf("Blob = %+v, want a signing time and a log index", res)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check {
				t.Fatalf("Blob: err = %v, want the %q check to fail", err, tc.check)
			}
		})
	}

	t.Run("signing time is the log's", func(t *testing.T) {
		b, _ := ParseBlobBundle(f.logged)
		res, err := Blob(b, Artifact{Content: bytes.NewReader(f.blob)}, Options{TrustedRoot: f.s, Key: pub})
		if err != nil {
			t.Fatal(err)
		}
		if !res.SignedAt.Equal(f.madeAt) {
			t.Errorf("SignedAt = %s, want the integrated time %s", res.SignedAt, f.madeAt)
		}
	})
}

// TestParseBlobBundle checks that a blob's bundle is read as the format
// its fields say, and that a malformed one is refused, saying what is
// wrong, before anything is verified.
func TestParseBlobBundle(t *testing.T) {
	f := newLegacyFixture(t)
	for _, tc := range []struct {
		name  string
		input string
		want  string // "" means it parses
	}{
		{"cosign's format, key-signed", string(f.logged), ""},
		{"cosign's format, keyless", string(f.keyless), ""},
		{"cosign's format, not logged", string(f.unlogged), ""},
		{"cosign's format, a plain PEM certificate", string(edit(t, f.keyless, func(m map[string]any) {
			pem, _ := base64.StdEncoding.DecodeString(m["cert"].(string))
			m["cert"] = string(pem)
		})), ""},
		{"a Sigstore bundle", `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}`, "parsing bundle"},
		{"neither", `{"signature":"AAAA"}`, "neither a Sigstore bundle"},
		{"not JSON", `base64Signature`, "parsing bundle"},
		{"signature not base64", `{"base64Signature":"!!"}`, "base64Signature"},
		{"empty signature", `{"base64Signature":""}`, "base64Signature is empty"},
		{"certificate not PEM", `{"base64Signature":"AAAA","cert":"bm90IGEgY2VydA=="}`, "cert: not a PEM certificate"},
		{"certificate not DER", `{"base64Signature":"AAAA","cert":"` + base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")) + `"}`, "cert"},
		{"Rekor bundle not an object", `{"base64Signature":"AAAA","rekorBundle":"x"}`, "rekorBundle"},
		{"Rekor bundle without its timestamp", `{"base64Signature":"AAAA","rekorBundle":{"Payload":{"body":"e30="}}}`, "no SignedEntryTimestamp"},
		{"Rekor entry body not base64", `{"base64Signature":"AAAA","rekorBundle":{"SignedEntryTimestamp":"AAAA","Payload":{"body":"!!","logID":"00"}}}`, "Rekor entry body"},
		{"Rekor log ID not hex", `{"base64Signature":"AAAA","rekorBundle":{"SignedEntryTimestamp":"AAAA","Payload":{"body":"e30=","logID":"zz"}}}`, "Rekor log ID"},
		{"an unknown field", `{"base64Signature":"AAAA","payload":"x"}`, "unknown field"},
		{"both formats' fields", `{"base64Signature":"AAAA","mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`, "parsing bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBlobBundle([]byte(tc.input))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ParseBlobBundle(%.60q) = %v, want it parsed", tc.input, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ParseBlobBundle(%.60q) = %v, want an error about %q", tc.input, err, tc.want)
			}
		})
	}
}

func FuzzParseBlobBundle(f *testing.F) {
	f.Add([]byte(`{"base64Signature":"MEUCIQ==","rekorBundle":{"SignedEntryTimestamp":"AAAA","Payload":{"body":"eyJraW5kIjoiaGFzaGVkcmVrb3JkIiwiYXBpVmVyc2lvbiI6IjAuMC4xIn0=","integratedTime":1,"logIndex":1,"logID":"00"}}}`))
	f.Add([]byte(`{"base64Signature":"eyJwYXlsb2FkVHlwZSI6IngiLCJwYXlsb2FkIjoiZTMwPSIsInNpZ25hdHVyZXMiOlt7InNpZyI6IkFBPT0ifV19","cert":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Fuzz(func(t *testing.T, b []byte) {
		bun, err := ParseBlobBundle(b)
		if err != nil {
			return
		}
		// Whatever parses must be refused or verified, never crash.
		Blob(bun, Artifact{Content: bytes.NewReader([]byte("x"))}, Options{Key: &key.PublicKey, InsecureIgnoreTlog: true})
		Blob(bun, Artifact{DigestAlgorithm: "sha256", Digest: make([]byte, 32)}, Options{Key: &key.PublicKey})
	})
}
