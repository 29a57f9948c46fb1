package signtest

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

// TestSigstoreSCT holds the certificates Sign issues to sigstore-go's own
// SCT verification: the trusted CT log's SCT verifies, an unknown log's
// and a missing one do not.
func TestSigstoreSCT(t *testing.T) {
	s := NewSigstore(t)
	for _, tc := range []struct {
		name string
		sct  SCT
		ok   bool
	}{
		{"trusted CT log", SCTTrusted, true},
		{"unknown CT log", SCTUnknownLog, false},
		{"no SCT", SCTNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Sign(t, "release@example.com", "https://issuer.example.com", []byte("the artifact"), SignOptions{SCT: tc.sct})
			err := sgverify.VerifySignedCertificateTimestamp([][]*x509.Certificate{e.Chain()}, 1, s)
			if (err == nil) != tc.ok {
				t.Fatalf("VerifySignedCertificateTimestamp = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestSigstoreVerifies verifies what Sign signs the way cosign does
// (an SCT, a log entry and an observer timestamp required), as an entity
// against the Sigstore itself and as a bundle against its
// trusted_root.json.
func TestSigstoreVerifies(t *testing.T) {
	s := NewSigstore(t)
	artifact := []byte("the artifact")
	e := s.Sign(t, "release@example.com", "https://issuer.example.com", artifact, SignOptions{})
	id, err := sgverify.NewShortCertificateIdentity("https://issuer.example.com", "", "release@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	policy := func() sgverify.PolicyBuilder {
		return sgverify.NewPolicy(sgverify.WithArtifact(bytes.NewReader(artifact)), sgverify.WithCertificateIdentity(id))
	}

	v, err := sgverify.NewVerifier(s, sgverify.WithSignedCertificateTimestamps(1), sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(e, policy()); err != nil {
		t.Errorf("the entity: %v", err)
	}

	tr, err := root.NewTrustedRootFromJSON(s.TrustedRootJSON(t))
	if err != nil {
		t.Fatalf("parsing TrustedRootJSON: %v", err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(e.Bundle(t)); err != nil {
		t.Fatalf("parsing Bundle: %v", err)
	}
	v, err = sgverify.NewVerifier(tr, sgverify.WithSignedCertificateTimestamps(1), sgverify.WithObserverTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(&b, policy()); err != nil {
		t.Errorf("the bundle against TrustedRootJSON: %v", err)
	}

	unknown := s.Sign(t, "release@example.com", "https://issuer.example.com", artifact, SignOptions{SCT: SCTUnknownLog})
	if err := b.UnmarshalJSON(unknown.Bundle(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(&b, policy()); err == nil || !strings.Contains(err.Error(), "signed certificate timestamp") {
		t.Errorf("a bundle whose SCT no trusted log signed: err = %v, want an SCT failure", err)
	}
}
