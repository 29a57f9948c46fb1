// Package signtest signs images in a registry for tests, the way cosign
// stores signatures, with keys the tests generate or keyless with a
// Sigstore of the test's own.
package signtest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Push writes an image to ref and returns its digest.
func Push(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Image is a small random OCI image.
func Image(t testing.TB) v1.Image {
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

// Payload is the simple-signing payload cosign signs for an image.
func Payload(repo string, d v1.Hash) []byte {
	return AnnotatedPayload(repo, d, nil)
}

// SignTag stores a signature of payload the classic cosign way: a layer
// holding the payload, annotated with the signature, under
// <repo>:sha256-<hex>.sig of the image digest of. Sign over a payload other
// than the one stored by passing tamper.
func SignTag(t testing.TB, repo string, of v1.Hash, payload []byte, key *ecdsa.PrivateKey, tamper func([]byte) []byte) {
	t.Helper()
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		payload = tamper(payload)
	}
	layer := static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, Annotations: map[string]string{
		"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig),
	}})
	if err != nil {
		t.Fatal(err)
	}
	Push(t, repo+":sha256-"+of.Hex+".sig", img)
}

// Statement is an in-toto statement that the image of digest of, in repo,
// has the predicate.
func Statement(repo string, of v1.Hash, predicateType string, predicate any) []byte {
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": repo, "digest": map[string]string{of.Algorithm: of.Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// AttestTag stores a DSSE attestation of statement the classic cosign way:
// a layer holding the envelope under <repo>:sha256-<hex>.att of the image
// digest of.
func AttestTag(t testing.TB, repo string, of v1.Hash, statement []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(statement), statement)
	h := sha256.Sum256(pae)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(map[string]any{
		"payloadType": payloadType,
		"payload":     statement,
		"signatures":  []map[string]any{{"keyid": "", "sig": sig}},
	})
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	json.Unmarshal(statement, &st)
	layer := static.NewLayer(env, "application/vnd.dsse.envelope.v1+json")
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, Annotations: map[string]string{
		"dev.cosignproject.cosign/signature": "",
		"predicateType":                      st.PredicateType,
	}})
	if err != nil {
		t.Fatal(err)
	}
	Push(t, repo+":sha256-"+of.Hex+".att", img)
}

// BundleContent is what Referrer signs: sign.PlainData (a message
// signature) or sign.DSSEData (an attestation).
type BundleContent = sign.Content

// Referrer signs content with kp into a Sigstore bundle and attaches it to
// subject as an OCI referrer, as cosign v3 does; predicateType, if any,
// goes into the referrer's annotations as cosign writes it.
func Referrer(t testing.TB, repo string, subject v1.Image, content sign.Content, kp sign.Keypair, predicateType string) {
	t.Helper()
	pb, err := sign.Bundle(content, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	AttachBundle(t, repo, subject, js, predicateType)
}

// AttachBundle attaches a Sigstore bundle (JSON) to subject as an OCI
// referrer.
func AttachBundle(t testing.TB, repo string, subject v1.Image, bundleJSON []byte, predicateType string) {
	t.Helper()
	const mt = "application/vnd.dev.sigstore.bundle.v0.3+json"
	add := mutate.Addendum{Layer: static.NewLayer(bundleJSON, mt)}
	b, err := mutate.Append(empty.Image, add)
	if err != nil {
		t.Fatal(err)
	}
	b = mutate.ConfigMediaType(mutate.MediaType(b, types.OCIManifestSchema1), mt)
	if predicateType != "" {
		b = mutate.Annotations(b, map[string]string{"dev.sigstore.bundle.predicateType": predicateType}).(v1.Image)
	}
	d, err := subject.Digest()
	if err != nil {
		t.Fatal(err)
	}
	sz, err := subject.Size()
	if err != nil {
		t.Fatal(err)
	}
	mt2, err := subject.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	withSubject := mutate.Subject(b, v1.Descriptor{MediaType: mt2, Size: sz, Digest: d}).(v1.Image)
	rd, err := withSubject.Digest()
	if err != nil {
		t.Fatal(err)
	}
	Push(t, repo+"@"+rd.String(), withSubject)
}
