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
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// noLog hides an entity's transparency-log entries and timestamps.
type noLog struct{ *ca.TestEntity }

func (noLog) TlogEntries() ([]*tlog.Entry, error) { return nil, nil }
func (noLog) Timestamps() ([][]byte, error)       { return nil, nil }
func (noLog) HasInclusionPromise() bool           { return false }
func (noLog) HasInclusionProof() bool             { return false }

// TestKeyless signs in the test with sigstore-go's virtual Sigstore (a
// Fulcio CA, a Rekor log and a TSA of its own) and checks each way a keyless
// signature must fail.
func TestKeyless(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const who, issuer = "release@example.com", "https://issuer.example.com"
	artifact := []byte("the artifact")
	sum := sha256.Sum256(artifact)
	art := Artifact{DigestAlgorithm: "sha256", Digest: sum[:]}

	good, err := vs.Sign(who, issuer, artifact)
	if err != nil {
		t.Fatal(err)
	}
	// Signed with a certificate that had expired by the log's time.
	late, err := vs.SignAtTime(who, issuer, artifact, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	right := &Identity{Subject: who, Issuer: issuer}

	if res, err := Entity(good, art, Options{TrustedRoot: vs, Identity: right}); err != nil {
		t.Fatalf("the right identity and issuer: %v", err)
	} else if res.Signer != who || res.Issuer != issuer {
		t.Errorf("result = %+v, want signer %s issued by %s", res, who, issuer)
	}
	for _, tc := range []struct {
		name   string
		entity interface{}
		opts   Options
		check  string
	}{
		{"wrong identity", good, Options{TrustedRoot: vs, Identity: &Identity{Subject: "mallory@example.com", Issuer: issuer}}, CheckIdentity},
		{"wrong issuer", good, Options{TrustedRoot: vs, Identity: &Identity{Subject: who, Issuer: "https://evil.example.com"}}, CheckIdentity},
		{"certificate expired at log time", late, Options{TrustedRoot: vs, Identity: right}, CheckCertExpired},
		{"missing log entry", noLog{good}, Options{TrustedRoot: vs, Identity: right}, CheckTlog},
		{"too old", good, Options{TrustedRoot: vs, Identity: right, MaxAge: time.Nanosecond}, CheckTooOld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch e := tc.entity.(type) {
			case *ca.TestEntity:
				_, err = Entity(e, art, tc.opts)
			case noLog:
				_, err = Entity(e, art, tc.opts)
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check {
				t.Fatalf("err = %v, want the %q check to fail", err, tc.check)
			}
		})
	}
}

// TestImageKeyless signs images in a real registry with the virtual
// Sigstore, the way cosign v2 (classic tag, with the Rekor entry's signed
// timestamp in the annotations) and cosign v3 (a bundle referrer, here with
// an RFC 3161 timestamp as Rekor v2 bundles carry) store keyless
// signatures.
func TestImageKeyless(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	const who, issuer = "release@example.com", "https://issuer.example.com"
	right := &Identity{Subject: who, Issuer: issuer}

	// The tag scheme.
	tagRepo := reg.Host + "/keyless-tag"
	d := signtest.Push(t, tagRepo+":1", signtest.Image(t))
	payload := signtest.Payload(tagRepo, d)
	e, err := vs.Sign(who, issuer, payload)
	if err != nil {
		t.Fatal(err)
	}
	pushKeylessTag(t, vs, tagRepo, d, payload, e, true)
	// Logged after the certificate had expired; and never logged.
	lateRepo, unloggedRepo := reg.Host+"/keyless-late", reg.Host+"/keyless-unlogged"
	ld := signtest.Push(t, lateRepo+":1", signtest.Image(t))
	late, err := vs.SignAtTime(who, issuer, signtest.Payload(lateRepo, ld), time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pushKeylessTag(t, vs, lateRepo, ld, signtest.Payload(lateRepo, ld), late, true)
	ud := signtest.Push(t, unloggedRepo+":1", signtest.Image(t))
	unlogged, err := vs.Sign(who, issuer, signtest.Payload(unloggedRepo, ud))
	if err != nil {
		t.Fatal(err)
	}
	pushKeylessTag(t, vs, unloggedRepo, ud, signtest.Payload(unloggedRepo, ud), unlogged, false)

	// The referrer scheme.
	refRepo := reg.Host + "/keyless-ref"
	img := signtest.Image(t)
	signtest.Push(t, refRepo+":1", img)
	raw, _ := img.RawManifest()
	re, err := vs.Sign(who, issuer, raw)
	if err != nil {
		t.Fatal(err)
	}
	signtest.AttachBundle(t, refRepo, img, keylessBundle(t, re), "")

	check := func(ref string, id *Identity) (*ImageResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return Image(context.Background(), r, nil, Request{Options: Options{TrustedRoot: vs, Identity: id}})
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(tc.ref, tc.id)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check {
				t.Fatalf("err = %v, want the %q check to fail", err, tc.check)
			}
		})
	}
}

// logEntry returns an entity's Rekor entry with the inclusion promise (the
// signed entry timestamp) the virtual log gives it.
func logEntry(t *testing.T, vs *ca.VirtualSigstore, e *ca.TestEntity) (*protorekor.TransparencyLogEntry, []byte) {
	t.Helper()
	entries, _ := e.TlogEntries()
	tle := entries[0].TransparencyLogEntry()
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime,
		LogIndex:       tle.LogIndex,
		LogID:          hex.EncodeToString(tle.LogId.KeyId),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tle, set
}

// pushKeylessTag stores a keyless signature under cosign's classic tag:
// the certificate and, when logged, the Rekor bundle in annotations.
func pushKeylessTag(t *testing.T, vs *ca.VirtualSigstore, repo string, of v1.Hash, payload []byte, e *ca.TestEntity, logged bool) {
	t.Helper()
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	ann := map[string]string{
		AnnotationSignature:   base64.StdEncoding.EncodeToString(sc.Signature()),
		AnnotationCertificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Certificate().Raw})),
	}
	if logged {
		tle, set := logEntry(t, vs, e)
		rb, _ := json.Marshal(map[string]any{
			"SignedEntryTimestamp": set,
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

// keylessBundle is the v0.3 bundle of a virtual-Sigstore message
// signature, vouched for by its RFC 3161 timestamp.
func keylessBundle(t *testing.T, e *ca.TestEntity) []byte {
	t.Helper()
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	ms := sc.MessageSignatureContent()
	tsrs, _ := e.Timestamps()
	var ts []*protocommon.RFC3161SignedTimestamp
	for _, tsr := range tsrs {
		ts = append(ts, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: tsr})
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: ts},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ms.Digest()},
			Signature:     ms.Signature(),
		}},
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
