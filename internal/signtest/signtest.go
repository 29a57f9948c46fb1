// Package signtest signs images in a registry for tests, the way cosign
// stores signatures, with keys the tests generate.
package signtest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, repo, d)
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
