package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// requests records what a registry was asked, to see which referrers
// were read.
type requests struct {
	mu    sync.Mutex
	paths []string
}

func (r *requests) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.paths = append(r.paths, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// manifestsRead counts the GETs of the manifests named.
func (r *requests) manifestsRead(digests ...v1.Hash) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.paths {
		for _, d := range digests {
			if strings.HasPrefix(p, "GET ") && strings.HasSuffix(p, "/manifests/"+d.String()) {
				n++
			}
		}
	}
	return n
}

// bundleJSON signs content into a Sigstore bundle.
func bundleJSON(t *testing.T, content sign.Content, kp sign.Keypair) []byte {
	t.Helper()
	pb, err := sign.Bundle(content, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// notBundle attaches to subject a referrer that holds no signature (an
// SPDX document), listed in the referrers tag with artifactType.
func notBundle(t *testing.T, repo string, subject v1.Image, artifactType string, n int) v1.Hash {
	t.Helper()
	d := signtest.Attach(t, repo, subject, signtest.Manifest{
		Layers: []signtest.Blob{{Data: fmt.Appendf(nil, `{"spdxVersion":"SPDX-2.3","name":"sbom %d"}`, n), MediaType: "application/spdx+json"}},
	})
	sd, _ := subject.Digest()
	signtest.Relist(t, repo, sd, d, artifactType)
	return d
}

// TestCosignLayouts finds signatures and attestations in each layout
// cosign v2.6.5 and v3 write, on a registry without the referrers API
// (Distribution 2.8, where the referrers tag lists them).
func TestCosignLayouts(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	const slsa1 = "https://slsa.dev/provenance/v1"
	provenance := map[string]any{"buildDefinition": map[string]any{"buildType": "https://example.com/build/v1"}}
	withKey := func(k any, types ...string) Request {
		return Request{Options: Options{Key: k, InsecureIgnoreTlog: true}, Attestations: types}
	}
	check := func(t *testing.T, ref string, req Request, log *requests) (*ImageResult, error) {
		t.Helper()
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		var ro []remote.Option
		if log != nil {
			ro = append(ro, remote.WithTransport(log))
		}
		return Image(ctx, r, ro, req)
	}
	wantCheck := func(t *testing.T, err error, check string) {
		t.Helper()
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != check {
			t.Fatalf("err = %v, want the check %q to fail", err, check)
		}
	}

	t.Run("cosign v2 sign --new-bundle-format: listed with the empty artifact type", func(t *testing.T) {
		repo := reg.Host + "/v2-bundle"
		img := signtest.Image(t)
		d := signtest.Push(t, repo+":1", img)
		signtest.AttachBundleCosignV2(t, repo, img, bundleJSON(t, &sign.DSSEData{Data: signtest.SignStatement(d, nil), PayloadType: InTotoPayloadType}, kp), CosignSignPredicateType)
		r, err := check(t, repo+":1", withKey(kp.GetPublicKey()), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Scheme != SchemeReferrer || r.Digest != d.String() {
			t.Errorf("result = %+v, want the referrer scheme and %s", r, d)
		}
	})
	t.Run("cosign v2 attest --new-bundle-format: listed with the empty artifact type", func(t *testing.T) {
		repo := reg.Host + "/v2-attest"
		img := signtest.Image(t)
		d := signtest.Push(t, repo+":1", img)
		signtest.AttachBundleCosignV2(t, repo, img, bundleJSON(t, &sign.DSSEData{Data: signtest.Statement(repo, d, slsa1, provenance), PayloadType: InTotoPayloadType}, kp), slsa1)
		r, err := check(t, repo+":1", withKey(kp.GetPublicKey(), "slsaprovenance1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Attestations) != 1 || r.Attestations[0].Scheme != SchemeReferrer {
			t.Errorf("attestations = %+v", r.Attestations)
		}
		// An attestation is not a signature.
		_, err = check(t, repo+":1", withKey(kp.GetPublicKey()), nil)
		wantCheck(t, err, CheckNoSignature)
	})
	t.Run("an attestation annotated as a signature is still found", func(t *testing.T) {
		// cosign v2.6.5 `attest --new-bundle-format` with a signing config
		// annotates every attestation with the signature predicate type.
		repo := reg.Host + "/mislabelled"
		img := signtest.Image(t)
		d := signtest.Push(t, repo+":1", img)
		signtest.Attach(t, repo, img, signtest.Manifest{
			ArtifactType: signtest.BundleMediaType,
			Layers:       []signtest.Blob{{Data: bundleJSON(t, &sign.DSSEData{Data: signtest.Statement(repo, d, slsa1, provenance), PayloadType: InTotoPayloadType}, kp), MediaType: signtest.BundleMediaType}},
			Annotations:  map[string]string{AnnotationBundlePredicateType: CosignSignPredicateType},
		})
		if _, err := check(t, repo+":1", withKey(kp.GetPublicKey(), slsa1), nil); err != nil {
			t.Fatal(err)
		}
		_, err := check(t, repo+":1", withKey(kp.GetPublicKey()), nil)
		wantCheck(t, err, CheckNoSignature)
	})
	t.Run("cosign v2 sign --registry-referrers-mode=oci-1-1", func(t *testing.T) {
		repo := reg.Host + "/oci11"
		img := signtest.Image(t)
		d := signtest.Push(t, repo+":1", img)
		signtest.SignReferrer(t, repo, img, signtest.Payload(repo, d), key)
		r, err := check(t, repo+":1", withKey(&key.PublicKey), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Scheme != SchemeReferrer {
			t.Errorf("scheme = %s, want referrer", r.Scheme)
		}
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, err = check(t, repo+":1", withKey(&other.PublicKey), nil)
		wantCheck(t, err, CheckKey)
		_, err = check(t, repo+":1", withKey(&key.PublicKey, slsa1), nil)
		wantCheck(t, err, CheckNoAttestation)
	})
	t.Run("a referrer with no artifact type that is no bundle is read and skipped", func(t *testing.T) {
		repo := reg.Host + "/sbom-only"
		img := signtest.Image(t)
		signtest.Push(t, repo+":1", img)
		sboms := []v1.Hash{notBundle(t, repo, img, "", 0), notBundle(t, repo, img, EmptyArtifactType, 1)}
		var log requests
		_, err := check(t, repo+":1", withKey(kp.GetPublicKey()), &log)
		wantCheck(t, err, CheckNoSignature)
		if n := log.manifestsRead(sboms...); n != 2 {
			t.Errorf("the undecided referrers were read %d times, want once each", n)
		}
		// A bundle beside them verifies.
		d, _ := img.Digest()
		signtest.AttachBundleCosignV2(t, repo, img, bundleJSON(t, &sign.DSSEData{Data: signtest.SignStatement(d, nil), PayloadType: InTotoPayloadType}, kp), CosignSignPredicateType)
		if _, err := check(t, repo+":1", withKey(kp.GetPublicKey()), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a referrer that says it is something else is not read", func(t *testing.T) {
		repo := reg.Host + "/sbom-typed"
		img := signtest.Image(t)
		signtest.Push(t, repo+":1", img)
		sbom := notBundle(t, repo, img, "application/spdx+json", 0)
		var log requests
		_, err := check(t, repo+":1", withKey(kp.GetPublicKey()), &log)
		wantCheck(t, err, CheckNoSignature)
		if n := log.manifestsRead(sbom); n != 0 {
			t.Errorf("the SBOM referrer was read %d times, want none", n)
		}
	})
	t.Run("a listed referrer that was deleted", func(t *testing.T) {
		repo := reg.Host + "/deleted"
		img := signtest.Image(t)
		d := signtest.Push(t, repo+":1", img)
		gone := signtest.AttachBundleCosignV2(t, repo, img, bundleJSON(t, &sign.DSSEData{Data: signtest.SignStatement(d, nil), PayloadType: InTotoPayloadType}, kp), CosignSignPredicateType)
		// Deleting a manifest leaves its entry in the referrers tag.
		r, _ := name.ParseReference(repo+"@"+gone.String(), name.Insecure)
		if err := remote.Delete(r); err != nil {
			t.Fatal(err)
		}
		_, err := check(t, repo+":1", withKey(kp.GetPublicKey()), nil)
		wantCheck(t, err, CheckNoSignature)
	})
}

// TestReferrerLimit lists 70 referrers that do not say what they are,
// one of them a bundle: the first MaxUndecidedReferrers are read. A
// signature among them verifies; one past them is not looked for, and
// verification stops with a ReferrerLimitError rather than say there is
// no signature.
func TestReferrerLimit(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := reg.Host + "/crowded"
	img := signtest.Image(t)
	d := signtest.Push(t, repo+":1", img)
	var others []v1.Hash
	for i := range 69 {
		others = append(others, notBundle(t, repo, img, "", i))
	}
	bundle := signtest.AttachBundleCosignV2(t, repo, img, bundleJSON(t, &sign.DSSEData{Data: signtest.SignStatement(d, nil), PayloadType: InTotoPayloadType}, kp), CosignSignPredicateType)
	// place lists the bundle at index i of the referrers tag.
	place := func(i int) {
		signtest.EditReferrersTag(t, repo, d, func(im *v1.IndexManifest) {
			at := slices.IndexFunc(im.Manifests, func(m v1.Descriptor) bool { return m.Digest == bundle })
			b := im.Manifests[at]
			im.Manifests = slices.Insert(slices.Delete(im.Manifests, at, at+1), i, b)
		})
	}
	verify := func(log *requests) (*ImageResult, error) {
		r, _ := name.ParseReference(repo+":1", name.Insecure)
		return Image(ctx, r, []remote.Option{remote.WithTransport(log)}, Request{Options: Options{Key: kp.GetPublicKey(), InsecureIgnoreTlog: true}})
	}

	t.Run("the signature is among the first 64", func(t *testing.T) {
		place(2)
		var log requests
		if _, err := verify(&log); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the signature is past them", func(t *testing.T) {
		place(69)
		var log requests
		_, err := verify(&log)
		var le *ReferrerLimitError
		if !errors.As(err, &le) || le.Undecided != 70 || le.Max != MaxUndecidedReferrers {
			t.Fatalf("err = %v, want a ReferrerLimitError for 70 referrers", err)
		}
		var ce *CheckError
		if errors.As(err, &ce) {
			t.Errorf("err = %v is a failed check; a signature may be among those not read", err)
		}
		if n := log.manifestsRead(append(others, bundle)...); n != MaxUndecidedReferrers {
			t.Errorf("%d referrers were read, want %d", n, MaxUndecidedReferrers)
		}
	})
}
