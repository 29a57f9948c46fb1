package verify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// noLog hides an entity's transparency-log entries and timestamps.
type noLog struct{ *signtest.Entity }

func (noLog) TlogEntries() ([]*tlog.Entry, error) { return nil, nil }
func (noLog) Timestamps() ([][]byte, error)       { return nil, nil }
func (noLog) HasInclusionPromise() bool           { return false }
func (noLog) HasInclusionProof() bool             { return false }

// TestKeyless signs in the test with a Sigstore of the test's own (a
// Fulcio CA, a CT log, a Rekor log and a TSA) and checks each way a keyless
// signature must fail.
func TestKeyless(t *testing.T) {
	s := signtest.NewSigstore(t)
	const who, issuer = "release@example.com", "https://issuer.example.com"
	artifact := []byte("the artifact")
	sum := sha256.Sum256(artifact)
	art := Artifact{DigestAlgorithm: "sha256", Digest: sum[:]}

	good := s.Sign(t, who, issuer, artifact, signtest.SignOptions{})
	// Signed with a certificate that had expired by the log's time.
	late := s.Sign(t, who, issuer, artifact, signtest.SignOptions{LogTime: time.Now().Add(-48 * time.Hour)})
	right := &Identity{Subject: who, Issuer: issuer}

	if res, err := Entity(good, art, Options{TrustedRoot: s, Identity: right}); err != nil {
		t.Fatalf("the right identity and issuer: %v", err)
	} else if res.Signer != who || res.Issuer != issuer {
		t.Errorf("result = %+v, want signer %s issued by %s", res, who, issuer)
	}
	for _, tc := range []struct {
		name   string
		entity sgverify.SignedEntity
		opts   Options
		check  string
	}{
		{"wrong identity", good, Options{TrustedRoot: s, Identity: &Identity{Subject: "mallory@example.com", Issuer: issuer}}, CheckIdentity},
		{"wrong issuer", good, Options{TrustedRoot: s, Identity: &Identity{Subject: who, Issuer: "https://evil.example.com"}}, CheckIdentity},
		{"certificate expired at log time", late, Options{TrustedRoot: s, Identity: right}, CheckCertExpired},
		{"missing log entry", noLog{good}, Options{TrustedRoot: s, Identity: right}, CheckTlog},
		{"too old", good, Options{TrustedRoot: s, Identity: right, MaxAge: time.Nanosecond}, CheckTooOld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Entity(tc.entity, art, tc.opts)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check {
				t.Fatalf("err = %v, want the %q check to fail", err, tc.check)
			}
		})
	}
}

// TestKeylessSCT checks that a keyless certificate must carry a signed
// certificate timestamp from a CT log of the trusted root, as Fulcio's do,
// unless InsecureIgnoreSCT waives it; and that waiving it waives nothing
// else.
func TestKeylessSCT(t *testing.T) {
	s := signtest.NewSigstore(t)
	const who, issuer = "release@example.com", "https://issuer.example.com"
	artifact := []byte("the artifact")
	sum := sha256.Sum256(artifact)
	art := Artifact{DigestAlgorithm: "sha256", Digest: sum[:]}
	right := &Identity{Subject: who, Issuer: issuer}

	for _, tc := range []struct {
		name string
		sct  signtest.SCT
	}{
		{"SCT from a CT log not in the trusted root", signtest.SCTUnknownLog},
		{"no SCT", signtest.SCTNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Sign(t, who, issuer, artifact, signtest.SignOptions{SCT: tc.sct})
			_, err := Entity(e, art, Options{TrustedRoot: s, Identity: right})
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != CheckSCT {
				t.Fatalf("err = %v, want the %q check to fail", err, CheckSCT)
			}
			if res, err := Entity(e, art, Options{TrustedRoot: s, Identity: right, InsecureIgnoreSCT: true}); err != nil {
				t.Errorf("with InsecureIgnoreSCT: %v", err)
			} else if res.Signer != who {
				t.Errorf("with InsecureIgnoreSCT: result = %+v, want signer %s", res, who)
			}
			wrong := &Identity{Subject: "mallory@example.com", Issuer: issuer}
			if _, err := Entity(e, art, Options{TrustedRoot: s, Identity: wrong, InsecureIgnoreSCT: true}); !errors.As(err, &ce) || ce.Check != CheckIdentity {
				t.Errorf("with InsecureIgnoreSCT and the wrong identity: err = %v, want the %q check to fail", err, CheckIdentity)
			}
		})
	}
}

// TestImageKeyless signs images in a real registry with a Sigstore of the
// test's own, the way cosign v2 (classic tag, with the Rekor entry's signed
// timestamp in the annotations) and cosign v3 (a bundle referrer, here with
// an RFC 3161 timestamp as Rekor v2 bundles carry) store keyless
// signatures.
func TestImageKeyless(t *testing.T) {
	s := signtest.NewSigstore(t)
	reg := registrytest.Start(t, registrytest.Options{})
	const who, issuer = "release@example.com", "https://issuer.example.com"
	right := &Identity{Subject: who, Issuer: issuer}

	// The tag scheme.
	tagRepo := reg.Host + "/keyless-tag"
	d := signtest.Push(t, tagRepo+":1", signtest.Image(t))
	payload := signtest.Payload(tagRepo, d)
	pushKeylessTag(t, tagRepo, d, payload, s.Sign(t, who, issuer, payload, signtest.SignOptions{}), true)
	// Logged after the certificate had expired; and never logged.
	lateRepo, unloggedRepo := reg.Host+"/keyless-late", reg.Host+"/keyless-unlogged"
	ld := signtest.Push(t, lateRepo+":1", signtest.Image(t))
	late := s.Sign(t, who, issuer, signtest.Payload(lateRepo, ld), signtest.SignOptions{LogTime: time.Now().Add(-48 * time.Hour)})
	pushKeylessTag(t, lateRepo, ld, signtest.Payload(lateRepo, ld), late, true)
	ud := signtest.Push(t, unloggedRepo+":1", signtest.Image(t))
	unlogged := s.Sign(t, who, issuer, signtest.Payload(unloggedRepo, ud), signtest.SignOptions{})
	pushKeylessTag(t, unloggedRepo, ud, signtest.Payload(unloggedRepo, ud), unlogged, false)
	// A certificate whose SCT no CT log of the trusted root signed.
	unknownCTRepo := reg.Host + "/keyless-unknown-ct"
	cd := signtest.Push(t, unknownCTRepo+":1", signtest.Image(t))
	unknownCT := s.Sign(t, who, issuer, signtest.Payload(unknownCTRepo, cd), signtest.SignOptions{SCT: signtest.SCTUnknownLog})
	pushKeylessTag(t, unknownCTRepo, cd, signtest.Payload(unknownCTRepo, cd), unknownCT, true)

	// The referrer scheme.
	refRepo := reg.Host + "/keyless-ref"
	img := signtest.Image(t)
	signtest.Push(t, refRepo+":1", img)
	raw, _ := img.RawManifest()
	signtest.AttachBundle(t, refRepo, img, s.Sign(t, who, issuer, raw, signtest.SignOptions{}).Bundle(t), "")
	refUnknownCTRepo := reg.Host + "/keyless-ref-unknown-ct"
	img = signtest.Image(t)
	signtest.Push(t, refUnknownCTRepo+":1", img)
	raw, _ = img.RawManifest()
	signtest.AttachBundle(t, refUnknownCTRepo, img, s.Sign(t, who, issuer, raw, signtest.SignOptions{SCT: signtest.SCTUnknownLog}).Bundle(t), "")

	check := func(ref string, id *Identity) (*ImageResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return Image(context.Background(), r, nil, Request{Options: Options{TrustedRoot: s, Identity: id}})
	}
	for _, ref := range []string{tagRepo + ":1", refRepo + ":1"} {
		r, err := check(ref, right)
		if err != nil {
			t.Fatalf("%s with the right identity: %v", ref, err)
		}
		if r.Signer != who || r.Issuer != issuer || r.SignedAt.IsZero() {
			t.Errorf("%s: result = %+v", ref, r)
		}
	}
	for _, tc := range []struct {
		name, ref string
		id        *Identity
		check     string
	}{
		{"tag, wrong identity", tagRepo + ":1", &Identity{Subject: "mallory@example.com", Issuer: issuer}, CheckIdentity},
		{"tag, wrong issuer", tagRepo + ":1", &Identity{Subject: who, Issuer: "https://evil.example.com"}, CheckIdentity},
		{"referrer, wrong identity", refRepo + ":1", &Identity{SubjectRegexp: "^ci@", Issuer: issuer}, CheckIdentity},
		{"referrer, wrong issuer", refRepo + ":1", &Identity{Subject: who, IssuerRegexp: "^https://evil"}, CheckIdentity},
		{"certificate expired at log time", lateRepo + ":1", right, CheckCertExpired},
		{"no log entry", unloggedRepo + ":1", right, CheckTlog},
		{"tag, SCT from an unknown CT log", unknownCTRepo + ":1", right, CheckSCT},
		{"referrer, SCT from an unknown CT log", refUnknownCTRepo + ":1", right, CheckSCT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(tc.ref, tc.id)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check {
				t.Fatalf("err = %v, want the %q check to fail", err, tc.check)
			}
		})
	}

	t.Run("trust policy with insecure-ignore-sct", func(t *testing.T) {
		verifyWith := func(waive string) (*PolicyResult, error) {
			p, err := ParsePolicy("trust.yaml", []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n"+
				"    authorities: [{identity: "+who+", issuer: \""+issuer+"\"}]\n"+waive))
			if err != nil {
				t.Fatal(err)
			}
			p.SetTrustedMaterial(s)
			r, err := name.ParseReference(unknownCTRepo+":1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			return p.Verify(context.Background(), r, nil)
		}
		var ce *CheckError
		if _, err := verifyWith(""); !errors.As(err, &ce) || ce.Check != CheckSCT {
			t.Errorf("without insecure-ignore-sct: err = %v, want the %q check to fail", err, CheckSCT)
		}
		res, err := verifyWith("    insecure-ignore-sct: true\n")
		if err != nil {
			t.Fatalf("with insecure-ignore-sct: true: %v", err)
		}
		if res.Signature == nil || res.Signature.Signer != who {
			t.Errorf("with insecure-ignore-sct: true: result = %+v, want signed by %s", res, who)
		}
	})
}

// pushKeylessTag stores a keyless signature under cosign's classic tag:
// the certificate and, when logged, the Rekor bundle in annotations.
func pushKeylessTag(t *testing.T, repo string, of v1.Hash, payload []byte, e *signtest.Entity, logged bool) {
	t.Helper()
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	ann := map[string]string{
		AnnotationSignature:   base64.StdEncoding.EncodeToString(sc.Signature()),
		AnnotationCertificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Certificate().Raw})),
	}
	if logged {
		entries, _ := e.TlogEntries()
		tle := entries[0].TransparencyLogEntry()
		rb, _ := json.Marshal(map[string]any{
			"SignedEntryTimestamp": tle.InclusionPromise.SignedEntryTimestamp,
			"Payload": map[string]any{
				"body":           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
				"integratedTime": tle.IntegratedTime,
				"logIndex":       tle.LogIndex,
				"logID":          hex.EncodeToString(tle.LogId.KeyId),
			},
		})
		ann[AnnotationRekorBundle] = string(rb)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: ann,
	})
	if err != nil {
		t.Fatal(err)
	}
	signtest.Push(t, repo+":"+of.Algorithm+"-"+of.Hex+".sig", img)
}
