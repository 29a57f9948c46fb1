package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// signReferrer attaches a Sigstore bundle, made with sigstore-go, as an OCI
// referrer of the image, as cosign v3 does.
func signReferrer(t *testing.T, repo string, img v1.Image, kp *sign.EphemeralKeypair) {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.PlainData{Data: raw}, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	const mt = "application/vnd.dev.sigstore.bundle.v0.3+json"
	b, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(js, mt)})
	if err != nil {
		t.Fatal(err)
	}
	b = mutate.ConfigMediaType(mutate.MediaType(b, types.OCIManifestSchema1), mt)
	desc, err := partialDescriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	withSubject := mutate.Subject(b, *desc).(v1.Image)
	d, _ := withSubject.Digest()
	signtest.Push(t, repo+"@"+d.String(), withSubject)
}

func partialDescriptor(img v1.Image) (*v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	sz, err := img.Size()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Size: sz, Digest: d}, nil
}

// TestImageSignatures signs images in a real registry, in both storage
// schemes, and checks every way verification must fail.
func TestImageSignatures(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	opts := func(pub crypto.PublicKey) Options { return Options{Key: pub, InsecureIgnoreTlog: true} }

	// The tag scheme.
	tagRepo := reg.Host + "/tagged"
	signed := signtest.Image(t)
	d := signtest.Push(t, tagRepo+":1", signed)
	signtest.SignTag(t, tagRepo, d, signtest.Payload(tagRepo, d), key, nil)

	// The referrer scheme.
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	refRepo := reg.Host + "/referred"
	refImg := signtest.Image(t)
	signtest.Push(t, refRepo+":1", refImg)
	signReferrer(t, refRepo, refImg, kp)

	verify := func(ref string, o Options) (*ImageResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return Image(ctx, r, nil, o)
	}
	wantCheck := func(t *testing.T, err error, check string) {
		t.Helper()
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != check {
			t.Fatalf("err = %v, want the check %q to fail", err, check)
		}
	}

	t.Run("tag scheme verifies with the key", func(t *testing.T) {
		r, err := verify(tagRepo+":1", opts(&key.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != d.String() || r.Scheme != SchemeTag || r.Reference != tagRepo+"@"+d.String() {
			t.Errorf("result = %+v", r)
		}
	})
	t.Run("referrer scheme verifies with the key", func(t *testing.T) {
		r, err := verify(refRepo+":1", opts(kp.GetPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		if r.Scheme != SchemeReferrer {
			t.Errorf("scheme = %s, want referrer", r.Scheme)
		}
	})
	t.Run("another key", func(t *testing.T) {
		_, err := verify(tagRepo+":1", opts(&otherKey.PublicKey))
		wantCheck(t, err, CheckKey)
		_, err = verify(refRepo+":1", opts(&otherKey.PublicKey))
		wantCheck(t, err, CheckKey)
	})
	t.Run("a log entry is required unless waived", func(t *testing.T) {
		_, err := verify(tagRepo+":1", Options{Key: &key.PublicKey})
		wantCheck(t, err, CheckTlog)
	})
	t.Run("signature for another image", func(t *testing.T) {
		repo := reg.Host + "/other"
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		otherDigest := signtest.Push(t, repo+":2", signtest.Image(t))
		signtest.SignTag(t, repo, d, signtest.Payload(repo, otherDigest), key, nil)
		_, err := verify(repo+":1", opts(&key.PublicKey))
		wantCheck(t, err, CheckDigest)
	})
	t.Run("tampered payload", func(t *testing.T) {
		repo := reg.Host + "/tampered"
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, func(p []byte) []byte {
			return append(p[:len(p)-1:len(p)-1], []byte(`,"x":1}`)...)
		})
		_, err := verify(repo+":1", opts(&key.PublicKey))
		if err == nil {
			t.Fatal("a tampered payload verified")
		}
		wantCheck(t, err, CheckKey)
	})
	t.Run("tag moved to an unsigned digest", func(t *testing.T) {
		signtest.Push(t, tagRepo+":1", signtest.Image(t))
		_, err := verify(tagRepo+":1", opts(&key.PublicKey))
		wantCheck(t, err, CheckNoSignature)
		// The signed digest itself still verifies.
		if _, err := verify(tagRepo+"@"+d.String(), opts(&key.PublicKey)); err != nil {
			t.Errorf("the signed digest: %v", err)
		}
	})
}
