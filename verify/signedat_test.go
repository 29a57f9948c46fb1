package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/customs-dev/customs/internal/signtest"
)

// TestSigningTime checks that only a transparency log or a timestamp
// authority dates a signature, never the moment it is verified: with the
// log ignored, a signature nothing dates has no signing time (and none in
// JSON), and a maximum age fails for it, saying why; a log entry or a
// timestamp that verifies still dates it.
func TestSigningTime(t *testing.T) {
	f := newLegacyFixture(t)
	pub := &f.key.PublicKey
	sum := sha256.Sum256(f.blob)
	art := Artifact{DigestAlgorithm: "sha256", Digest: sum[:]}
	parse := func(b []byte) *BlobBundle {
		bun, err := ParseBlobBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		return bun
	}
	logged, unlogged := parse(f.logged), parse(f.unlogged)
	badSET := parse(edit(t, f.logged, func(m map[string]any) {
		rb := m["rekorBundle"].(map[string]any)
		set, _ := base64.StdEncoding.DecodeString(rb["SignedEntryTimestamp"].(string))
		set[len(set)/2] ^= 1
		rb["SignedEntryTimestamp"] = base64.StdEncoding.EncodeToString(set)
	}))
	ignoreTlog := func(o Options) Options { o.Key, o.InsecureIgnoreTlog = pub, true; return o }

	for _, tc := range []struct {
		name   string
		bundle *BlobBundle
		opts   Options
		// want is the signing time; zero means none.
		want time.Time
		// undated, when set, is why a maximum age fails.
		undated string
	}{
		{"logged", logged, Options{TrustedRoot: f.s, Key: pub}, f.madeAt, ""},
		{"not logged, log ignored", unlogged, ignoreTlog(Options{TrustedRoot: f.s}), time.Time{}, "neither a transparency-log entry nor a signed timestamp"},
		{"logged, log ignored: the entry still dates it", logged, ignoreTlog(Options{TrustedRoot: f.s}), f.madeAt, ""},
		{"logged, log ignored, no trusted root to check the entry", logged, ignoreTlog(Options{}), time.Time{}, "no trusted root"},
		{"signed entry timestamp changed, log ignored", badSET, ignoreTlog(Options{TrustedRoot: f.s}), time.Time{}, "did not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Blob(tc.bundle, art, tc.opts)
			if err != nil {
				t.Fatalf("Blob: %v", err)
			}
			if !res.SignedAt.Equal(tc.want) {
				t.Errorf("SignedAt = %s, want %s", res.SignedAt, tc.want)
			}
			if res.SignedAt.After(f.madeAt) {
				t.Errorf("SignedAt = %s, later than the signature, made at %s", res.SignedAt, f.madeAt)
			}
			js, _ := json.Marshal(res)
			if got := strings.Contains(string(js), "signed_at"); got != !tc.want.IsZero() {
				t.Errorf("JSON %s: signed_at present = %v, want %v", js, got, !tc.want.IsZero())
			}

			tc.opts.MaxAge = time.Hour
			_, err = Blob(tc.bundle, art, tc.opts)
			if tc.undated == "" {
				if err != nil {
					t.Errorf("with a maximum age of an hour: %v", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != CheckTooOld || !errors.Is(err, ErrNoSigningTime) {
				t.Fatalf("with a maximum age: err = %v, want the %q check to fail for want of a signing time", err, CheckTooOld)
			}
			if !strings.Contains(err.Error(), "transparency log was ignored") || !strings.Contains(err.Error(), tc.undated) {
				t.Errorf("with a maximum age: %q does not say the log was ignored and %q", err, tc.undated)
			}
		})
	}

	t.Run("keyless, log ignored: the RFC 3161 timestamp still dates it", func(t *testing.T) {
		b, err := ParseBundle(f.s.Sign(t, legacySigner, legacyIssuer, f.blob, signtest.SignOptions{}).Bundle(t))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Entity(b, art, Options{TrustedRoot: f.s, Identity: &Identity{Subject: legacySigner, Issuer: legacyIssuer}, InsecureIgnoreTlog: true, MaxAge: time.Hour})
		if err != nil {
			t.Fatalf("Entity: %v", err)
		}
		if res.SignedAt.IsZero() || res.SignedAt.After(time.Now()) {
			t.Errorf("SignedAt = %s, want the timestamp authority's time", res.SignedAt)
		}
	})
}

// TestTrustedRootFunc checks that the trusted root is asked for only when
// a signature needs it: a key-signature with no log entry and no
// timestamp fails the log check without it.
func TestTrustedRootFunc(t *testing.T) {
	f := newLegacyFixture(t)
	sum := sha256.Sum256(f.blob)
	art := Artifact{DigestAlgorithm: "sha256", Digest: sum[:]}
	offline := errors.New("offline")
	for _, tc := range []struct {
		name      string
		bundle    []byte
		opts      Options
		wantCalls int
		wantErr   error
	}{
		{"key-signed, not logged", f.unlogged, Options{Key: &f.key.PublicKey}, 0, ErrNoTlogEntry},
		{"key-signed, logged", f.logged, Options{Key: &f.key.PublicKey}, 1, offline},
		{"keyless", f.keyless, Options{Identity: &Identity{Subject: legacySigner, Issuer: legacyIssuer}}, 1, offline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			tc.opts.TrustedRootFunc = func() (root.TrustedMaterial, error) { calls++; return nil, offline }
			b, err := ParseBlobBundle(tc.bundle)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Blob(b, art, tc.opts)
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) {
				t.Errorf("Blob: the trusted root asked for %d times, err = %v; want %d and %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}
