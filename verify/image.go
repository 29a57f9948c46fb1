package verify

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// Where cosign keeps image signatures.
const (
	// BundleArtifactType prefixes the artifact type of a Sigstore bundle
	// attached as an OCI 1.1 referrer (what cosign v3, and cosign v2 with
	// --new-bundle-format, write).
	BundleArtifactType = "application/vnd.dev.sigstore.bundle"
	// CosignSignatureArtifactType is the artifact type of the referrer
	// cosign v2 `sign --registry-referrers-mode=oci-1-1` writes: the
	// classic signature manifest, layers annotated as under the .sig tag.
	CosignSignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// EmptyArtifactType is the config media type of an OCI artifact with
	// no config. Registries and clients that derive a referrer's artifact
	// type from its config (as the go-containerregistry cosign v2.6.5 is
	// built with does for the referrers tag) list cosign's bundles with it.
	EmptyArtifactType = "application/vnd.oci.empty.v1+json"
	// The annotations of a signature layer in the classic tag scheme
	// (<repo>:sha256-<hex>.sig, what cosign v2 writes).
	AnnotationSignature        = "dev.cosignproject.cosign/signature"
	AnnotationCertificate      = "dev.sigstore.cosign/certificate"
	AnnotationChain            = "dev.sigstore.cosign/chain"
	AnnotationRekorBundle      = "dev.sigstore.cosign/bundle"
	AnnotationRFC3161Timestamp = "dev.sigstore.cosign/rfc3161timestamp"
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
	// SchemeReferrer: an OCI 1.1 referrer of the digest, through the
	// registry's referrers API or the referrers tag (<repo>:sha256-<hex>).
	SchemeReferrer = "referrer"
	// SchemeTag: cosign's classic tags, <repo>:sha256-<hex>.sig and .att.
	SchemeTag = "tag"
)

// MaxUndecidedReferrers is how many referrers of one digest that do not
// say what they are (no artifact type, or the empty one) are fetched to
// see whether they hold a signature.
const MaxUndecidedReferrers = 64

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
	// Annotations are the annotations the verified signature signs
	// (cosign sign -a KEY=VALUE), string values only.
	Annotations map[string]string `json:"annotations,omitempty"`
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
	// Annotations must each be signed, with this value, by the signature
	// that verifies (cosign sign -a KEY=VALUE, as cosign verify -a checks
	// them); they make a signature required. A signature that cannot carry
	// annotations (a Sigstore bundle's message signature) fails.
	Annotations map[string]string
	// MultiArch is MultiArchIndex (the default) or MultiArchEach.
	MultiArch string
}

// Image verifies the signatures of an image: the tag is resolved once,
// and only a signature on the digest it resolved to counts. The
// referrers are tried first (the registry's referrers API, or the
// referrers tag where the registry lacks it): Sigstore bundles, and
// classic signatures stored as referrers; then cosign's classic signature
// tag. The
// first signature that satisfies req wins; when none does, the error
// names the check the first one failed.
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
	// referred is what each referrer read holds, by its digest; nothing
	// for one that turned out to hold no signature.
	referred map[v1.Hash][]stored
	// undecided counts the referrers that do not say what they are; only
	// the first MaxUndecidedReferrers are read.
	undecided int
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
	// payload is the simple-signing payload of a classic signature.
	payload []byte
	// err is why the stored signature could not be read.
	err error
}

func (s stored) isSignature() bool {
	return s.predicateType == "" || s.predicateType == CosignSignPredicateType
}

// ReferrerLimitError is an image whose referrers list more entries that
// do not say what they are than MaxUndecidedReferrers. Those past the
// limit are not read, so a signature among them would go unseen: rather
// than say there is none, verification stops, unless a signature found
// before the limit verified.
type ReferrerLimitError struct {
	// Image is the image by digest.
	Image string
	// Undecided is how many such referrers it lists.
	Undecided, Max int
	// First is why the first signature read, if any, did not verify.
	First error
}

func (e *ReferrerLimitError) Error() string {
	msg := fmt.Sprintf("%s lists %d referrers that do not say what they are, over the limit of %d that are read; no signature read verified", e.Image, e.Undecided, e.Max)
	if e.First != nil {
		// Not wrapped: this is no failed check, a signature may be among
		// those not read.
		msg += fmt.Sprintf(" (the first: %v)", e.First)
	}
	return msg
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
	return &Signatures{At: at, digest: d, ro: ro, referred: map[v1.Hash][]stored{}, tags: map[string][]stored{}}, nil
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
		first := out.Platforms[0]
		out.Scheme, out.Result, out.Annotations = first.Scheme, first.Result, first.Annotations
		return out, nil
	}
	return s.check(req)
}

func (s *Signatures) check(req Request) (*ImageResult, error) {
	var out *ImageResult
	if req.Signature || len(req.Attestations) == 0 || len(req.Annotations) > 0 {
		r, err := s.verifySignature(req.Options, req.Annotations)
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

// verifySignature tries each signature of the digest against opts (the
// referrers first, then the classic tag, fetching only as far as needed)
// for one that also signs the annotations want.
func (s *Signatures) verifySignature(opts Options, want map[string]string) (*ImageResult, error) {
	none := &CheckError{Check: CheckNoSignature, Err: fmt.Errorf("%s has no signature tag %s and no signature among its referrers", s.At, s.tag("sig"))}
	v, err := s.firstVerified("sig", stored.isSignature, opts, want, none)
	if err != nil {
		return nil, err
	}
	return &ImageResult{Reference: s.At.String(), Digest: s.digest.String(), Scheme: v.scheme, Result: *v.result, Annotations: v.annotations}, nil
}

// VerifyAttestation finds an attestation of the predicate type (a URI or
// one of cosign's names) whose signature satisfies opts and whose subject
// is the digest.
func (s *Signatures) VerifyAttestation(predicateType string, opts Options) (*AttestationResult, error) {
	want, err := PredicateType(predicateType)
	if err != nil {
		return nil, err
	}
	none := &CheckError{Check: CheckNoAttestation, Err: fmt.Errorf("%s has no %s attestation, neither under the tag %s nor as a referrer", s.At, want, s.tag("att"))}
	v, err := s.firstVerified("att", func(st stored) bool { return st.predicateType == want }, opts, nil, none)
	if err != nil {
		return nil, err
	}
	out := &AttestationResult{PredicateType: want, Scheme: v.scheme, Result: *v.result}
	if out.Predicate, err = predicate(v.bundle); err != nil {
		return nil, &CheckError{Check: CheckSignature, Err: err}
	}
	return out, nil
}

// verified is a stored signature that verified, with the annotations it
// signs.
type verified struct {
	stored
	result      *Result
	annotations map[string]string
}

// firstVerified tries what the referrers and then the classic tag
// (suffix sig or att) hold that keep accepts, fetching only as far as needed,
// and returns the first that verifies against opts and signs the
// annotations want. When none does, the error is the first one's, or none
// when nothing was found.
func (s *Signatures) firstVerified(suffix string, keep func(stored) bool, opts Options, want map[string]string, none error) (*verified, error) {
	var first error
	// Referrers first, as cosign v2.6.5 looks: an image signed either way
	// is then found in as many registry requests as cosign makes (5 on a
	// registry without the referrers API; .sig first made a bundle cost 6).
	for _, scheme := range []string{SchemeReferrer, SchemeTag} {
		found, err := s.stored(scheme, suffix, keep)
		if err != nil {
			return nil, err
		}
		for _, st := range found {
			v, err := s.verifyStored(st, opts, want)
			if err == nil {
				return v, nil
			}
			if first == nil {
				first = err
			}
		}
	}
	if s.undecided > MaxUndecidedReferrers {
		return nil, &ReferrerLimitError{Image: s.At.String(), Undecided: s.undecided, Max: MaxUndecidedReferrers, First: first}
	}
	if first == nil {
		first = none
	}
	return nil, first
}

func (s *Signatures) verifyStored(st stored, opts Options, want map[string]string) (*verified, error) {
	if st.err != nil {
		return nil, st.err
	}
	var r *Result
	var err error
	if st.payload != nil {
		r, err = verifySimpleSigning(st.bundle, st.payload, s.digest, opts)
	} else {
		d, derr := hex.DecodeString(s.digest.Hex)
		if derr != nil {
			return nil, fmt.Errorf("unsupported image digest %s", s.digest)
		}
		// For a DSSE attestation sigstore-go checks that the in-toto
		// statement names the digest as its subject.
		r, err = Entity(st.bundle, Artifact{DigestAlgorithm: "sha256", Digest: d}, opts)
	}
	if err != nil {
		return nil, err
	}
	annotations, carries := signedAnnotations(st, s.digest)
	if err := checkAnnotations(want, annotations, carries); err != nil {
		return nil, err
	}
	return &verified{stored: st, result: r, annotations: annotations}, nil
}

// signedAnnotations are the annotations (cosign sign -a) that a verified
// signature signs: the "optional" section of a simple-signing payload, or,
// for a bundle, those cosign v3 puts on the in-toto subject that names
// the digest (cosign v2 leaves them out of bundles). A bundle's message
// signature signs the manifest alone and carries none: carries is false.
func signedAnnotations(st stored, d v1.Hash) (annotations map[string]string, carries bool) {
	if st.payload != nil {
		var p struct {
			Optional map[string]any `json:"optional"`
		}
		// The payload verified as a simple-signing payload.
		json.Unmarshal(st.payload, &p)
		return stringValues(p.Optional), true
	}
	env, ok := st.bundle.Bundle.GetContent().(*protobundle.Bundle_DsseEnvelope)
	if !ok {
		return nil, false
	}
	var stmt struct {
		Subject []struct {
			Digest      map[string]string `json:"digest"`
			Annotations map[string]any    `json:"annotations"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(env.DsseEnvelope.GetPayload(), &stmt); err != nil {
		return nil, true
	}
	for _, sub := range stmt.Subject {
		if sub.Digest[d.Algorithm] == d.Hex {
			return stringValues(sub.Annotations), true
		}
	}
	return nil, true
}

func stringValues(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkAnnotations holds the annotations a signature signs to those
// wanted: each must be there with the value wanted.
func checkAnnotations(want, have map[string]string, carries bool) error {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := have[k]
		switch {
		case !carries:
			return &CheckError{Check: CheckAnnotations, Err: fmt.Errorf("%s=%s is required, but the signature is a Sigstore bundle over the manifest alone, which signs no annotations", k, want[k])}
		case !ok:
			return &CheckError{Check: CheckAnnotations, Err: fmt.Errorf("the signature does not sign the annotation %s (want %s=%s)", k, k, want[k])}
		case v != want[k]:
			return &CheckError{Check: CheckAnnotations, Err: fmt.Errorf("the signed annotation %s is %q, want %q", k, v, want[k])}
		}
	}
	return nil
}
