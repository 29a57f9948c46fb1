package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// TestImageAnnotations checks the annotations a signature must sign
// (cosign sign -a, cosign verify -a) in each place cosign puts them, and
// that a signature with nowhere to put them fails.
func TestImageAnnotations(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	prod := map[string]string{"env": "prod", "team": "payments"}

	// cosign v2: the annotations in the simple-signing payload.
	tagRepo := reg.Host + "/ann-tag"
	td := signtest.Push(t, tagRepo+":1", signtest.Image(t))
	signtest.SignTag(t, tagRepo, td, signtest.AnnotatedPayload(tagRepo, td, prod), key, nil)
	// cosign v3: on the subject of the signed in-toto statement.
	v3Repo := reg.Host + "/ann-v3"
	v3Img := signtest.Image(t)
	v3d := signtest.Push(t, v3Repo+":1", v3Img)
	signtest.Referrer(t, v3Repo, v3Img, &sign.DSSEData{Data: signtest.SignStatement(v3d, prod), PayloadType: InTotoPayloadType}, kp, CosignSignPredicateType)
	// cosign v2 --new-bundle-format signs none, whatever -a says.
	v2Repo := reg.Host + "/ann-v2-bundle"
	v2Img := signtest.Image(t)
	v2d := signtest.Push(t, v2Repo+":1", v2Img)
	signtest.AttachBundleCosignV2(t, v2Repo, v2Img, bundleJSON(t, &sign.DSSEData{Data: signtest.SignStatement(v2d, nil), PayloadType: InTotoPayloadType}, kp), CosignSignPredicateType)
	// A message signature over the manifest has nowhere to put them.
	msgRepo := reg.Host + "/ann-message"
	msgImg := signtest.Image(t)
	signtest.Push(t, msgRepo+":1", msgImg)
	signReferrer(t, msgRepo, msgImg, kp)

	check := func(ref string, k any, want map[string]string) (*ImageResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return Image(ctx, r, nil, Request{Options: Options{Key: k, InsecureIgnoreTlog: true}, Annotations: want})
	}
	for _, tc := range []struct {
		name, ref string
		key       any
		want      map[string]string
		// fails names the part of the error, "" when it verifies.
		fails string
	}{
		{"payload: matching", tagRepo + ":1", &key.PublicKey, map[string]string{"env": "prod"}, ""},
		{"payload: all of them", tagRepo + ":1", &key.PublicKey, prod, ""},
		{"payload: wrong value", tagRepo + ":1", &key.PublicKey, map[string]string{"env": "dev"}, `the signed annotation env is "prod", want "dev"`},
		{"payload: missing key", tagRepo + ":1", &key.PublicKey, map[string]string{"region": "eu"}, "does not sign the annotation region"},
		{"cosign v3 bundle: matching", v3Repo + ":1", kp.GetPublicKey(), map[string]string{"team": "payments"}, ""},
		{"cosign v3 bundle: wrong value", v3Repo + ":1", kp.GetPublicKey(), map[string]string{"team": "risk"}, `is "payments", want "risk"`},
		{"cosign v2 bundle: none signed", v2Repo + ":1", kp.GetPublicKey(), map[string]string{"env": "prod"}, "does not sign the annotation env"},
		{"message signature: nowhere to sign them", msgRepo + ":1", kp.GetPublicKey(), map[string]string{"env": "prod"}, "signs no annotations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := check(tc.ref, tc.key, tc.want)
			if tc.fails == "" {
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.want {
					if r.Annotations[k] != v {
						t.Errorf("annotations = %v, want %s=%s among them", r.Annotations, k, v)
					}
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != CheckAnnotations || !strings.Contains(err.Error(), tc.fails) {
				t.Fatalf("err = %v, want the annotations check to fail with %q", err, tc.fails)
			}
		})
	}
	t.Run("reported without being asked for", func(t *testing.T) {
		r, err := check(tagRepo+":1", &key.PublicKey, nil)
		if err != nil || !maps.Equal(r.Annotations, prod) {
			t.Fatalf("Image = %+v, %v; want the annotations %v", r, err, prod)
		}
		if r, err := check(msgRepo+":1", kp.GetPublicKey(), nil); err != nil || r.Annotations != nil {
			t.Fatalf("message signature: %+v, %v; want it to verify, with no annotations", r, err)
		}
	})
	t.Run("a later signature that signs them wins", func(t *testing.T) {
		repo := reg.Host + "/ann-two"
		img := signtest.Image(t)
		d := signtest.Push(t, repo+":1", img)
		// The referrer is tried first and lacks them; the tag has them.
		signtest.SignReferrer(t, repo, img, signtest.Payload(repo, d), key)
		signtest.SignTag(t, repo, d, signtest.AnnotatedPayload(repo, d, prod), key, nil)
		r, err := check(repo+":1", &key.PublicKey, map[string]string{"env": "prod"})
		if err != nil || r.Scheme != SchemeTag {
			t.Fatalf("Image = %+v, %v; want the annotated tag signature", r, err)
		}
	})
	t.Run("they require a signature beside attestations", func(t *testing.T) {
		repo := reg.Host + "/ann-attested"
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		const slsa1 = "https://slsa.dev/provenance/v1"
		signtest.AttestTag(t, repo, d, signtest.Statement(repo, d, slsa1, map[string]any{}), key)
		r, _ := name.ParseReference(repo+":1", name.Insecure)
		_, err := Image(ctx, r, nil, Request{Options: Options{Key: &key.PublicKey, InsecureIgnoreTlog: true}, Attestations: []string{slsa1}, Annotations: map[string]string{"env": "prod"}})
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != CheckNoSignature {
			t.Fatalf("err = %v, want no signature found", err)
		}
	})
}
