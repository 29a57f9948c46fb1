package verify

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
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
