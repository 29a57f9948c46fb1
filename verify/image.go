package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// Where cosign keeps image signatures.
const (
	// BundleArtifactType prefixes the artifact type of a Sigstore bundle
	// attached as an OCI 1.1 referrer (what cosign v3 writes).
	BundleArtifactType = "application/vnd.dev.sigstore.bundle"
	// The annotations of a signature layer in the classic tag scheme
	// (<repo>:sha256-<hex>.sig, what cosign v2 writes).
	AnnotationSignature   = "dev.cosignproject.cosign/signature"
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	AnnotationChain       = "dev.sigstore.cosign/chain"
	AnnotationRekorBundle = "dev.sigstore.cosign/bundle"
	// SimpleSigningType is the payload type cosign signs for an image.
	SimpleSigningType = "cosign container image signature"
)

// The storage schemes a signature was found in.
const (
	SchemeReferrer = "referrer"
	SchemeTag      = "tag"
)

// maxSignatureBlob bounds what is read of one signature layer or bundle.
const maxSignatureBlob = 32 << 20

// ImageResult says which digest verified, and how.
type ImageResult struct {
	// Reference is the verified image by digest: repo@sha256:….
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	// Scheme is where the signature that verified was stored.
	Scheme string `json:"scheme"`
	Result
}

// Image verifies the signatures of an image: the tag is resolved once,
// and only a signature on the digest it resolved to counts. Sigstore
// bundles attached as referrers are tried first (the registry's referrers
// API, or the referrers tag where the registry lacks it), then cosign's
// classic signature tag. The first signature that satisfies opts wins;
// when none does, the error names the check the first one failed.
func Image(ctx context.Context, ref name.Reference, ro []remote.Option, opts Options) (*ImageResult, error) {
	sigs, err := FetchSignatures(ctx, ref, ro)
	if err != nil {
		return nil, err
	}
	return sigs.Verify(opts)
}

// Signatures are the signatures stored for one image digest.
type Signatures struct {
	// At is the image by digest.
	At      name.Digest
	digest  v1.Hash
	bundles []*bundle.Bundle
	tags    []tagSignature
}

// FetchSignatures resolves ref once and fetches the signatures stored for
// the digest it names, in both schemes.
func FetchSignatures(ctx context.Context, ref name.Reference, ro []remote.Option) (*Signatures, error) {
	ro = append([]remote.Option{remote.WithContext(ctx)}, ro...)
	digest, err := resolve(ref, ro)
	if err != nil {
		return nil, err
	}
	if digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("unsupported image digest %s", digest)
	}
	s := &Signatures{At: ref.Context().Digest(digest.String()), digest: digest}
	if s.bundles, err = referrerBundles(s.At, ro); err != nil {
		return nil, err
	}
	if s.tags, err = tagSignatures(ref.Context(), digest, ro); err != nil {
		return nil, err
	}
	return s, nil
}

// Verify tries each signature against opts.
func (s *Signatures) Verify(opts Options) (*ImageResult, error) {
	want, err := hex.DecodeString(s.digest.Hex)
	if err != nil {
		return nil, fmt.Errorf("unsupported image digest %s", s.digest)
	}
	out := func(scheme string, r *Result) *ImageResult {
		return &ImageResult{Reference: s.At.String(), Digest: s.digest.String(), Scheme: scheme, Result: *r}
	}
	var failures []error
	for _, b := range s.bundles {
		r, err := Entity(b, Artifact{DigestAlgorithm: "sha256", Digest: want}, opts)
		if err == nil {
			return out(SchemeReferrer, r), nil
		}
		failures = append(failures, err)
	}
	for _, t := range s.tags {
		r, err := t.verify(s.digest, opts)
		if err == nil {
			return out(SchemeTag, r), nil
		}
		failures = append(failures, err)
	}
	if len(failures) == 0 {
		return nil, &CheckError{Check: CheckNoSignature, Err: fmt.Errorf("%s has no Sigstore bundle referrer and no signature tag %s", s.At, sigTag(s.At.Context(), s.digest))}
	}
	return nil, failures[0]
}

// resolve turns a tag into the digest it names now; a digest reference
// is taken as it is.
func resolve(ref name.Reference, ro []remote.Option) (v1.Hash, error) {
	if d, ok := ref.(name.Digest); ok {
		return v1.NewHash(d.DigestStr())
	}
	desc, err := remote.Head(ref, ro...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	return desc.Digest, nil
}

func sigTag(repo name.Repository, d v1.Hash) name.Tag {
	return repo.Tag(d.Algorithm + "-" + d.Hex + ".sig")
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// referrerBundles fetches the Sigstore bundles attached to an image.
func referrerBundles(at name.Digest, ro []remote.Option) ([]*bundle.Bundle, error) {
	idx, err := remote.Referrers(at, ro...)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing the referrers of %s: %w", at, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", at, err)
	}
	var out []*bundle.Bundle
	for _, d := range im.Manifests {
		if !strings.HasPrefix(d.ArtifactType, BundleArtifactType) {
			continue
		}
		img, err := remote.Image(at.Context().Digest(d.Digest.String()), ro...)
		if err != nil {
			return nil, fmt.Errorf("fetching the bundle %s: %w", d.Digest, err)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) == 0 {
			return nil, &CheckError{Check: CheckSignature, Err: fmt.Errorf("the bundle manifest %s has no layer", d.Digest)}
		}
		b, err := readLayer(layers[0])
		if err != nil {
			return nil, fmt.Errorf("fetching the bundle %s: %w", d.Digest, err)
		}
		bun, err := ParseBundle(b)
		if err != nil {
			return nil, fmt.Errorf("the bundle %s: %w", d.Digest, err)
		}
		out = append(out, bun)
	}
	return out, nil
}

func readLayer(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSignatureBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSignatureBlob {
		return nil, fmt.Errorf("larger than %d bytes", maxSignatureBlob)
	}
	return b, nil
}

// tagSignature is one layer of a cosign signature tag: a simple-signing
// payload and what the annotations say of it.
type tagSignature struct {
	payload     []byte
	annotations map[string]string
}

func tagSignatures(repo name.Repository, d v1.Hash, ro []remote.Option) ([]tagSignature, error) {
	tag := sigTag(repo, d)
	img, err := remote.Image(tag, ro...)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("fetching the signature tag %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the signature tag %s: %w", tag, err)
	}
	var out []tagSignature
	for _, l := range m.Layers {
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading the signature tag %s: %w", tag, err)
		}
		b, err := readLayer(layer)
		if err != nil {
			return nil, fmt.Errorf("fetching signature %s: %w", l.Digest, err)
		}
		out = append(out, tagSignature{payload: b, annotations: l.Annotations})
	}
	return out, nil
}

// simpleSigning is the part of cosign's payload that binds it to an image.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// verify checks a tag-scheme signature by turning it into the Sigstore
// bundle it amounts to (a message signature over the payload, with the
// key or certificate and the Rekor entry cosign recorded beside it), so
// that keys, identities, logs and times are checked exactly as for
// bundles; then it checks that the payload names the digest.
func (s tagSignature) verify(d v1.Hash, opts Options) (*Result, error) {
	b, err := s.bundle()
	if err != nil {
		return nil, err
	}
	r, err := Entity(b, Artifact{Content: bytes.NewReader(s.payload)}, opts)
	if err != nil {
		return nil, err
	}
	var p simpleSigning
	if err := json.Unmarshal(s.payload, &p); err != nil {
		return nil, &CheckError{Check: CheckDigest, Err: fmt.Errorf("the signed payload is not cosign's simple signing format: %v", err)}
	}
	if p.Critical.Type != SimpleSigningType {
		return nil, &CheckError{Check: CheckDigest, Err: fmt.Errorf("the signed payload is of type %q, not an image signature", p.Critical.Type)}
	}
	if p.Critical.Image.DockerManifestDigest != d.String() {
		return nil, &CheckError{Check: CheckDigest, Err: fmt.Errorf("the signature is for %s, not %s", p.Critical.Image.DockerManifestDigest, d)}
	}
	return r, nil
}

// rekorBundle is cosign's record of the Rekor entry of a signature.
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

func (s tagSignature) bundle() (*bundle.Bundle, error) {
	malformed := func(what string, err error) error {
		return &CheckError{Check: CheckSignature, Err: fmt.Errorf("malformed signature layer: %s: %v", what, err)}
	}
	sig, err := base64.StdEncoding.DecodeString(s.annotations[AnnotationSignature])
	if err != nil || len(sig) == 0 {
		return nil, malformed("signature annotation", err)
	}
	var vm protobundle.VerificationMaterial
	if c := s.annotations[AnnotationCertificate]; c != "" {
		chain := &protocommon.X509CertificateChain{}
		rest := []byte(c + "\n" + s.annotations[AnnotationChain])
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: block.Bytes})
		}
		if len(chain.Certificates) == 0 {
			return nil, malformed("certificate annotation", errors.New("no PEM certificate"))
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: chain}
	} else {
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}}
	}
	if rb := s.annotations[AnnotationRekorBundle]; rb != "" {
		var r rekorBundle
		if err := json.Unmarshal([]byte(rb), &r); err != nil {
			return nil, malformed("Rekor bundle annotation", err)
		}
		body, err := base64.StdEncoding.DecodeString(r.Payload.Body)
		if err != nil {
			return nil, malformed("Rekor entry body", err)
		}
		logID, err := hex.DecodeString(r.Payload.LogID)
		if err != nil {
			return nil, malformed("Rekor log ID", err)
		}
		var kind struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
		}
		if err := json.Unmarshal(body, &kind); err != nil {
			return nil, malformed("Rekor entry body", err)
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{{
			LogIndex:          r.Payload.LogIndex,
			LogId:             &protocommon.LogId{KeyId: logID},
			KindVersion:       &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
			IntegratedTime:    r.Payload.IntegratedTime,
			InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: r.SignedEntryTimestamp},
			CanonicalizedBody: body,
		}}
	}
	digest := sha256.Sum256(s.payload)
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]},
			Signature:     sig,
		}},
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, malformed("as a bundle", err)
	}
	return b, nil
}
