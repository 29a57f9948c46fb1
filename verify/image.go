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
	"net/url"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
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
	// AnnotationBundlePredicateType names, on a referrer, the predicate
	// type of the DSSE bundle it holds.
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// CosignSignPredicateType is the predicate of the in-toto statement
	// cosign v3 signs an image with, in the bundle format.
	CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// InTotoPayloadType is the DSSE payload type of in-toto statements.
	InTotoPayloadType = "application/vnd.in-toto+json"
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
	// Result is who signed the image and when; for a check of
	// attestations alone, who signed the first attestation.
	Result
	// Attestations are the attestations that verified.
	Attestations []AttestationResult `json:"attestations,omitempty"`
	// Platforms are the platform manifests of a multi-arch image that
	// were verified one by one (MultiArchEach).
	Platforms []PlatformResult `json:"platforms,omitempty"`
}

// AttestationResult is one attestation that verified.
type AttestationResult struct {
	PredicateType string `json:"predicate_type"`
	Scheme        string `json:"scheme"`
	Result
	// Predicate is the attested statement's predicate, as signed.
	Predicate json.RawMessage `json:"predicate,omitempty"`
}

// PlatformResult is the verification of one platform manifest.
type PlatformResult struct {
	Platform string `json:"platform"`
	ImageResult
}

// How a multi-arch image (an index) is verified.
const (
	// MultiArchIndex: a signature on the index digest covers every
	// platform manifest it lists (they are named by digest in it).
	MultiArchIndex = "index"
	// MultiArchEach: every platform manifest must carry its own signature.
	MultiArchEach = "each"
)

// Request says what an image must carry.
type Request struct {
	Options
	// Signature: a signature must verify. Without attestations it is
	// always required.
	Signature bool
	// Attestations are the predicate types (URIs, or cosign's names such
	// as slsaprovenance; see PredicateType) that must each have a verified
	// attestation.
	Attestations []string
	// MultiArch is MultiArchIndex (the default) or MultiArchEach.
	MultiArch string
}

// Image verifies the signatures of an image: the tag is resolved once,
// and only a signature on the digest it resolved to counts. cosign's
// classic signature tag is tried first, then Sigstore bundles attached as
// referrers (the registry's referrers API, or the referrers tag where the
// registry lacks it). The first signature that satisfies opts wins; when
// none does, the error names the check the first one failed.
func Image(ctx context.Context, ref name.Reference, ro []remote.Option, req Request) (*ImageResult, error) {
	sigs, err := Fetch(ctx, ref, ro, req.MultiArch == MultiArchEach)
	if err != nil {
		return nil, err
	}
	return sigs.Check(req)
}

// Signatures are the signatures and attestations stored for one image
// digest. They are fetched when first needed and kept, so that several
// authorities can be tried against one fetch.
type Signatures struct {
	// At is the image by digest.
	At     name.Digest
	digest v1.Hash
	ro     []remote.Option
	// platforms are the platform manifests of an index, when asked for.
	platforms []platformSignatures

	referrers *v1.IndexManifest // nil until listed
	bundles   map[v1.Hash]stored
	tags      map[string][]stored // by tag suffix: sig, att
}

type platformSignatures struct {
	platform string
	sigs     *Signatures
}

// stored is one signature or attestation found for the digest. What
// cannot be read is kept with its error: a malformed signature is an
// error (exit 2) unless another signature verifies.
type stored struct {
	scheme string
	// predicateType is the in-toto predicate type of a DSSE attestation;
	// "" for a plain signature.
	predicateType string
	bundle        *bundle.Bundle
	// payload is the simple-signing payload of a classic tag signature.
	payload []byte
	// err is why the stored signature could not be read.
	err error
}

func (s stored) isSignature() bool {
	return s.predicateType == "" || s.predicateType == CosignSignPredicateType
}

// Fetch resolves ref once. The signatures of the digest it names are
// fetched as they are needed; with platforms, an index's platform
// manifests are listed too, each with its own signatures.
func Fetch(ctx context.Context, ref name.Reference, ro []remote.Option, platforms bool) (*Signatures, error) {
	ro = append([]remote.Option{remote.WithContext(ctx)}, ro...)
	// One transport for every request: one ping, one token.
	puller, err := remote.NewPuller(ro...)
	if err != nil {
		return nil, err
	}
	ro = append(ro, remote.Reuse(puller))
	desc, err := resolve(ref, ro)
	if err != nil {
		return nil, err
	}
	s, err := newSignatures(ref.Context().Digest(desc.Digest.String()), ro)
	if err != nil {
		return nil, err
	}
	if !platforms {
		return s, nil
	}
	if desc.MediaType == "" {
		if desc, err = remote.Head(s.At, ro...); err != nil {
			return nil, fmt.Errorf("fetching %s: %w", s.At, err)
		}
	}
	if !desc.MediaType.IsIndex() {
		return s, nil
	}
	idx, err := remote.Index(s.At, ro...)
	if err != nil {
		return nil, fmt.Errorf("fetching the index %s: %w", s.At, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the index %s: %w", s.At, err)
	}
	for _, m := range im.Manifests {
		// Skip what is not a platform image: buildx's attestation
		// manifests (unknown/unknown) and nested indexes.
		if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
			continue
		}
		child, err := newSignatures(ref.Context().Digest(m.Digest.String()), ro)
		if err != nil {
			return nil, err
		}
		s.platforms = append(s.platforms, platformSignatures{platform: m.Platform.String(), sigs: child})
	}
	if len(s.platforms) == 0 {
		return nil, fmt.Errorf("the index %s lists no platform image", s.At)
	}
	return s, nil
}

func newSignatures(at name.Digest, ro []remote.Option) (*Signatures, error) {
	d, err := v1.NewHash(at.DigestStr())
	if err != nil || d.Algorithm != "sha256" {
		return nil, fmt.Errorf("unsupported image digest %s", at.DigestStr())
	}
	return &Signatures{At: at, digest: d, ro: ro, bundles: map[v1.Hash]stored{}, tags: map[string][]stored{}}, nil
}

// Check holds the image against req: its signature, its attestations, and
// with MultiArchEach each platform manifest's.
func (s *Signatures) Check(req Request) (*ImageResult, error) {
	if req.MultiArch == MultiArchEach && len(s.platforms) > 0 {
		out := &ImageResult{Reference: s.At.String(), Digest: s.digest.String()}
		for _, p := range s.platforms {
			r, err := p.sigs.check(req)
			if err != nil {
				return nil, fmt.Errorf("platform %s (%s): %w", p.platform, p.sigs.digest, err)
			}
			out.Platforms = append(out.Platforms, PlatformResult{Platform: p.platform, ImageResult: *r})
		}
		out.Scheme, out.Result = out.Platforms[0].Scheme, out.Platforms[0].Result
		return out, nil
	}
	return s.check(req)
}

func (s *Signatures) check(req Request) (*ImageResult, error) {
	var out *ImageResult
	if req.Signature || len(req.Attestations) == 0 {
		r, err := s.Verify(req.Options)
		if err != nil {
			return nil, err
		}
		out = r
	} else {
		out = &ImageResult{Reference: s.At.String(), Digest: s.digest.String()}
	}
	for _, t := range req.Attestations {
		a, err := s.VerifyAttestation(t, req.Options)
		if err != nil {
			return nil, err
		}
		if out.Scheme == "" {
			out.Scheme, out.Result = a.Scheme, a.Result
		}
		out.Attestations = append(out.Attestations, *a)
	}
	return out, nil
}

// Verify tries each signature of the digest against opts: the classic tag
// first, then the referrers, fetching only as far as needed.
func (s *Signatures) Verify(opts Options) (*ImageResult, error) {
	none := &CheckError{Check: CheckNoSignature, Err: fmt.Errorf("%s has no signature tag %s and no Sigstore bundle referrer", s.At, sigTag(s.At.Context(), s.digest, "sig"))}
	st, r, err := s.firstVerified("sig", stored.isSignature, opts, none)
	if err != nil {
		return nil, err
	}
	return &ImageResult{Reference: s.At.String(), Digest: s.digest.String(), Scheme: st.scheme, Result: *r}, nil
}

// VerifyAttestation finds an attestation of the predicate type (a URI or
// one of cosign's names) whose signature satisfies opts and whose subject
// is the digest.
func (s *Signatures) VerifyAttestation(predicateType string, opts Options) (*AttestationResult, error) {
	want, err := PredicateType(predicateType)
	if err != nil {
		return nil, err
	}
	none := &CheckError{Check: CheckNoAttestation, Err: fmt.Errorf("%s has no %s attestation, neither under the tag %s nor as a referrer", s.At, want, sigTag(s.At.Context(), s.digest, "att"))}
	st, r, err := s.firstVerified("att", func(st stored) bool { return st.predicateType == want }, opts, none)
	if err != nil {
		return nil, err
	}
	out := &AttestationResult{PredicateType: want, Scheme: st.scheme, Result: *r}
	if out.Predicate, err = predicate(st.bundle); err != nil {
		return nil, &CheckError{Check: CheckSignature, Err: err}
	}
	return out, nil
}

// firstVerified tries what the classic tag (suffix sig or att) and then
// the referrers hold that keep accepts, fetching only as far as needed,
// and returns the first that verifies against opts. When none does, the
// error is the first one's, or none when nothing was found.
func (s *Signatures) firstVerified(suffix string, keep func(stored) bool, opts Options, none error) (stored, *Result, error) {
	var first error
	for _, scheme := range []string{SchemeTag, SchemeReferrer} {
		found, err := s.stored(scheme, suffix, keep)
		if err != nil {
			return stored{}, nil, err
		}
		for _, st := range found {
			r, err := s.verifyStored(st, opts)
			if err == nil {
				return st, r, nil
			}
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		first = none
	}
	return stored{}, nil, first
}

func (s *Signatures) verifyStored(st stored, opts Options) (*Result, error) {
	if st.err != nil {
		return nil, st.err
	}
	if st.payload != nil {
		return verifySimpleSigning(st.bundle, st.payload, s.digest, opts)
	}
	want, err := hex.DecodeString(s.digest.Hex)
	if err != nil {
		return nil, fmt.Errorf("unsupported image digest %s", s.digest)
	}
	// For a DSSE attestation sigstore-go checks that the in-toto
	// statement names the digest as its subject.
	return Entity(st.bundle, Artifact{DigestAlgorithm: "sha256", Digest: want}, opts)
}

// resolve turns a tag into the digest it names now; a digest reference
// is taken as it is.
func resolve(ref name.Reference, ro []remote.Option) (*v1.Descriptor, error) {
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return nil, err
		}
		return &v1.Descriptor{Digest: h}, nil
	}
	desc, err := remote.Head(ref, ro...)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", ref, err)
	}
	return desc, nil
}

// sigTag is where cosign keeps signatures (suffix "sig") and attestations
// ("att") of a digest in the classic scheme.
func sigTag(repo name.Repository, d v1.Hash, suffix string) name.Tag {
	return repo.Tag(d.Algorithm + "-" + d.Hex + "." + suffix)
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// stored returns what the scheme holds for the digest and keep accepts,
// fetching it on first use.
func (s *Signatures) stored(scheme, suffix string, keep func(stored) bool) ([]stored, error) {
	var all []stored
	switch scheme {
	case SchemeTag:
		got, ok := s.tags[suffix]
		if !ok {
			var err error
			if got, err = s.tagSignatures(suffix); err != nil {
				return nil, err
			}
			s.tags[suffix] = got
		}
		all = got
	case SchemeReferrer:
		if err := s.listReferrers(); err != nil {
			return nil, err
		}
		for _, d := range s.referrers.Manifests {
			if !strings.HasPrefix(d.ArtifactType, BundleArtifactType) {
				continue
			}
			// cosign names the predicate type of a bundle in the
			// referrer's annotations: skip the bundles that cannot be
			// wanted without fetching them.
			if pt, ok := d.Annotations[AnnotationBundlePredicateType]; ok && !keep(stored{predicateType: pt}) {
				continue
			}
			st, ok := s.bundles[d.Digest]
			if !ok {
				var err error
				if st, err = s.referrerBundle(d); err != nil {
					return nil, err
				}
				s.bundles[d.Digest] = st
			}
			all = append(all, st)
		}
	}
	var out []stored
	for _, st := range all {
		if st.err != nil || keep(st) {
			out = append(out, st)
		}
	}
	return out, nil
}

func (s *Signatures) listReferrers() error {
	if s.referrers != nil {
		return nil
	}
	idx, err := remote.Referrers(s.At, s.ro...)
	if err != nil && !notFound(err) {
		return fmt.Errorf("listing the referrers of %s: %w", s.At, err)
	}
	s.referrers = &v1.IndexManifest{}
	if err == nil {
		if s.referrers, err = idx.IndexManifest(); err != nil {
			return fmt.Errorf("listing the referrers of %s: %w", s.At, err)
		}
	}
	return nil
}

// referrerBundle fetches a Sigstore bundle attached to the image. A
// bundle that cannot be read is kept with its error.
func (s *Signatures) referrerBundle(d v1.Descriptor) (stored, error) {
	st := stored{scheme: SchemeReferrer}
	img, err := remote.Image(s.At.Context().Digest(d.Digest.String()), s.ro...)
	if err != nil {
		return st, fmt.Errorf("fetching the bundle %s: %w", d.Digest, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return st, fmt.Errorf("fetching the bundle %s: %w", d.Digest, err)
	}
	if len(layers) == 0 {
		st.err = fmt.Errorf("malformed bundle referrer: the manifest %s has no layer", d.Digest)
		return st, nil
	}
	b, err := readLayer(layers[0])
	if err != nil {
		return st, fmt.Errorf("fetching the bundle %s: %w", d.Digest, err)
	}
	if st.bundle, err = ParseBundle(b); err != nil {
		st.err = fmt.Errorf("malformed bundle referrer %s: %w", d.Digest, err)
		return st, nil
	}
	if st.predicateType, err = bundlePredicateType(st.bundle); err != nil {
		st.err = fmt.Errorf("malformed bundle referrer %s: %w", d.Digest, err)
	}
	return st, nil
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

// tagSignatures reads cosign's classic tag for the digest: signatures
// (suffix "sig": simple-signing payloads) or attestations ("att": DSSE
// envelopes). A layer that cannot be read is kept with its error.
func (s *Signatures) tagSignatures(suffix string) ([]stored, error) {
	tag := sigTag(s.At.Context(), s.digest, suffix)
	img, err := remote.Image(tag, s.ro...)
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
	var out []stored
	for _, l := range m.Layers {
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading the signature tag %s: %w", tag, err)
		}
		b, err := readLayer(layer)
		if err != nil {
			return nil, fmt.Errorf("fetching signature %s: %w", l.Digest, err)
		}
		st := stored{scheme: SchemeTag}
		if suffix == "sig" {
			st.payload = b
			st.bundle, st.err = tagBundle(l.Annotations, nil, b)
		} else {
			env, perr := parseEnvelope(b)
			if perr != nil {
				st.err = fmt.Errorf("malformed attestation layer %s: %v", l.Digest, perr)
			} else if st.bundle, st.err = tagBundle(l.Annotations, env, nil); st.err == nil {
				st.predicateType, st.err = bundlePredicateType(st.bundle)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// verifySimpleSigning checks a classic tag signature, turned into the
// Sigstore bundle it amounts to (a message signature over the payload,
// with the key or certificate and the Rekor entry cosign recorded beside
// it), so that keys, identities, logs and times are checked exactly as for
// bundles; then it checks that the payload names the digest.
func verifySimpleSigning(b *bundle.Bundle, payload []byte, d v1.Hash, opts Options) (*Result, error) {
	r, err := Entity(b, Artifact{Content: bytes.NewReader(payload)}, opts)
	if err != nil {
		return nil, err
	}
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
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

// tagBundle builds the v0.1 Sigstore bundle that a classic tag layer
// amounts to: the signature (over payload, or the DSSE envelope env) with
// the key or certificate chain and the Rekor entry of its annotations.
func tagBundle(annotations map[string]string, env *protodsse.Envelope, payload []byte) (*bundle.Bundle, error) {
	malformed := func(what string, err error) error {
		return fmt.Errorf("malformed signature layer: %s: %v", what, err)
	}
	var vm protobundle.VerificationMaterial
	if c := annotations[AnnotationCertificate]; c != "" {
		chain := &protocommon.X509CertificateChain{}
		rest := []byte(c + "\n" + annotations[AnnotationChain])
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
	if rb := annotations[AnnotationRekorBundle]; rb != "" {
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
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &vm,
	}
	if env != nil {
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
	} else {
		sig, err := base64.StdEncoding.DecodeString(annotations[AnnotationSignature])
		if err != nil || len(sig) == 0 {
			return nil, malformed("signature annotation", err)
		}
		digest := sha256.Sum256(payload)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]},
			Signature:     sig,
		}}
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, malformed("as a bundle", err)
	}
	return b, nil
}

// parseEnvelope reads a DSSE envelope as cosign stores it in an
// attestation layer.
func parseEnvelope(b []byte) (*protodsse.Envelope, error) {
	var e struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %v", err)
	}
	if len(e.Signatures) == 0 {
		return nil, errors.New("a DSSE envelope without a signature")
	}
	env := &protodsse.Envelope{PayloadType: e.PayloadType, Payload: e.Payload}
	for _, s := range e.Signatures {
		env.Signatures = append(env.Signatures, &protodsse.Signature{Keyid: s.KeyID, Sig: s.Sig})
	}
	return env, nil
}

// statement is the part of an in-toto statement that is checked here.
type statement struct {
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// inTotoStatement decodes the in-toto statement a DSSE bundle carries; nil
// for a message signature.
func inTotoStatement(b *bundle.Bundle) (*statement, error) {
	env, ok := b.Bundle.GetContent().(*protobundle.Bundle_DsseEnvelope)
	if !ok {
		return nil, nil
	}
	if env.DsseEnvelope.GetPayloadType() != InTotoPayloadType {
		return nil, fmt.Errorf("the DSSE payload is %q, not an in-toto statement", env.DsseEnvelope.GetPayloadType())
	}
	var st statement
	if err := json.Unmarshal(env.DsseEnvelope.GetPayload(), &st); err != nil {
		return nil, fmt.Errorf("the in-toto statement: %v", err)
	}
	if st.PredicateType == "" {
		return nil, errors.New("the in-toto statement has no predicate type")
	}
	return &st, nil
}

// bundlePredicateType is the predicate type of a DSSE bundle's in-toto
// statement, "" for a message signature.
func bundlePredicateType(b *bundle.Bundle) (string, error) {
	st, err := inTotoStatement(b)
	if err != nil || st == nil {
		return "", err
	}
	return st.PredicateType, nil
}

// predicate is the predicate a verified attestation carries.
func predicate(b *bundle.Bundle) (json.RawMessage, error) {
	st, err := inTotoStatement(b)
	if err != nil || st == nil {
		return nil, err
	}
	return st.Predicate, nil
}

// PredicateType turns cosign's predicate names (slsaprovenance,
// slsaprovenance1, spdxjson, cyclonedx, vuln, openvex, link, custom) into
// their URIs; a URI is taken as it is.
func PredicateType(s string) (string, error) {
	if uri, ok := predicateTypes[s]; ok {
		return uri, nil
	}
	if u, err := url.ParseRequestURI(s); err != nil || u.Scheme == "" {
		return "", fmt.Errorf("unknown attestation type %q: use one of %s, or a predicate type URI", s, strings.Join(PredicateNames(), ", "))
	}
	return s, nil
}

// PredicateNames are the short predicate names PredicateType knows.
func PredicateNames() []string {
	names := make([]string, 0, len(predicateTypes))
	for n := range predicateTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// predicateTypes are cosign's names for predicate types (cosign v2
// options.PredicateTypeMap).
var predicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}
