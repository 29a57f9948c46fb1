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
	"maps"
	"net/http"
	"net/url"
	"slices"
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

// tag is where cosign keeps signatures (suffix "sig") and attestations
// ("att") of the digest in the classic scheme: <repo>:sha256-<hex>.sig.
func (s *Signatures) tag(suffix string) name.Tag {
	return s.At.Context().Tag(fmt.Sprintf("%s-%s.%s", s.digest.Algorithm, s.digest.Hex, suffix))
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// What a referrer's descriptor says it is.
type referrerKind int

const (
	notSignature referrerKind = iota
	// bundleReferrer: a Sigstore bundle.
	bundleReferrer
	// cosignSignatureReferrer: cosign's classic signature manifest.
	cosignSignatureReferrer
	// undecided: no artifact type, or the empty one; the manifest says.
	undecided
)

// kindOf says what a referrer is by its descriptor in the referrers list:
// what is not an image manifest, or names another artifact type (an SBOM,
// an in-toto attestation of another tool), cannot be a signature.
func kindOf(d v1.Descriptor) referrerKind {
	if !d.MediaType.IsImage() {
		return notSignature
	}
	if d.ArtifactType == "" || d.ArtifactType == EmptyArtifactType {
		return undecided
	}
	return kindOfType(d.ArtifactType)
}

// kindOfType says what an artifact type names: a Sigstore bundle,
// cosign's classic signature manifest, or something else.
func kindOfType(at string) referrerKind {
	switch {
	case strings.HasPrefix(at, BundleArtifactType):
		return bundleReferrer
	case at == CosignSignatureArtifactType:
		return cosignSignatureReferrer
	}
	return notSignature
}

// manifestKind says what an undecided referrer is by its manifest: its
// artifact type (or, without one, its config's media type), or else a
// single layer that is a Sigstore bundle.
func manifestKind(m *v1.Manifest) referrerKind {
	at := m.ArtifactType
	if at == "" {
		at = string(m.Config.MediaType)
	}
	if k := kindOfType(at); k != notSignature {
		return k
	}
	if len(m.Layers) == 1 && strings.HasPrefix(string(m.Layers[0].MediaType), BundleArtifactType) {
		return bundleReferrer
	}
	return notSignature
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
			if got, err = s.cosignSignatures(s.tag(suffix), suffix, SchemeTag); err != nil {
				return nil, err
			}
			s.tags[suffix] = got
		}
		all = got
	case SchemeReferrer:
		if err := s.listReferrers(); err != nil {
			return nil, err
		}
		s.undecided = 0
		for _, d := range s.referrers.Manifests {
			kind := kindOf(d)
			switch kind {
			case notSignature:
				continue
			case bundleReferrer:
				// cosign names the predicate type of a bundle in the
				// referrer's annotations: skip the bundles that cannot be
				// wanted without fetching them. Not when it names the
				// signature predicate: cosign v2 `attest` with a signing
				// config names it on every attestation.
				if pt, ok := d.Annotations[AnnotationBundlePredicateType]; ok && pt != CosignSignPredicateType && !keep(stored{predicateType: pt}) {
					continue
				}
			case cosignSignatureReferrer:
				if !keep(stored{}) {
					continue
				}
			case undecided:
				if s.undecided++; s.undecided > MaxUndecidedReferrers {
					continue
				}
			}
			got, ok := s.referred[d.Digest]
			if !ok {
				var err error
				if got, err = s.readReferrer(d, kind); err != nil {
					return nil, err
				}
				s.referred[d.Digest] = got
			}
			all = append(all, got...)
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
	// Where the registry has no referrers API, go-containerregistry reads
	// the referrers tag, as cosign does.
	idx, err := remote.Referrers(s.At, s.ro...)
	if notFound(err) {
		s.referrers = &v1.IndexManifest{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the referrers of %s: %w", s.At, err)
	}
	if s.referrers, err = idx.IndexManifest(); err != nil {
		return fmt.Errorf("listing the referrers of %s: %w", s.At, err)
	}
	return nil
}

// readReferrer reads the signatures a referrer of kind holds: a Sigstore
// bundle, or cosign's classic signatures; an undecided one is read to see
// which, if either, it is.
func (s *Signatures) readReferrer(d v1.Descriptor, kind referrerKind) ([]stored, error) {
	at := s.At.Context().Digest(d.Digest.String())
	img, err := remote.Image(at, s.ro...)
	if notFound(err) {
		// The referrers tag outlives the manifests it lists: deleting
		// one leaves its entry.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching the referrer %s: %w", d.Digest, err)
	}
	if kind == undecided {
		m, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("reading the referrer %s: %w", d.Digest, err)
		}
		if kind = manifestKind(m); kind == notSignature {
			return nil, nil
		}
	}
	if kind == cosignSignatureReferrer {
		return signaturesIn(img, at, "sig", SchemeReferrer)
	}
	st, err := referrerBundle(img, d.Digest)
	if err != nil {
		return nil, err
	}
	return []stored{st}, nil
}

// referrerBundle reads the Sigstore bundle in a referrer's first layer. A
// bundle that cannot be read is kept with its error. It is read within a
// bound and never decompressed (cosign's ociremote.Bundle decompresses
// without a bound: a 1 MB referrer had it allocate 2.6 GiB).
func referrerBundle(img v1.Image, d v1.Hash) (stored, error) {
	st := stored{scheme: SchemeReferrer}
	layers, err := img.Layers()
	if err != nil {
		return st, fmt.Errorf("fetching the bundle %s: %w", d, err)
	}
	if len(layers) == 0 {
		st.err = fmt.Errorf("malformed bundle referrer: the manifest %s has no layer", d)
		return st, nil
	}
	b, err := readLayer(layers[0])
	if err != nil {
		return st, fmt.Errorf("fetching the bundle %s: %w", d, err)
	}
	if st.bundle, err = ParseBundle(b); err != nil {
		st.err = fmt.Errorf("malformed bundle referrer %s: %w", d, err)
		return st, nil
	}
	if st.predicateType, err = bundlePredicateType(st.bundle); err != nil {
		st.err = fmt.Errorf("malformed bundle referrer %s: %w", d, err)
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

// cosignSignatures reads a manifest of cosign's classic signatures: under
// a tag, or a referrer. Their layers are signatures (suffix "sig":
// simple-signing payloads) or attestations ("att": DSSE envelopes). A
// missing manifest is no signatures; a layer that cannot be read is kept
// with its error.
func (s *Signatures) cosignSignatures(ref name.Reference, suffix, scheme string) ([]stored, error) {
	img, err := remote.Image(ref, s.ro...)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching the signatures %s: %w", ref, err)
	}
	return signaturesIn(img, ref, suffix, scheme)
}

// signaturesIn reads the layers of a manifest of classic signatures that
// was fetched from ref.
func signaturesIn(img v1.Image, ref name.Reference, suffix, scheme string) ([]stored, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the signatures %s: %w", ref, err)
	}
	var out []stored
	for _, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading the signatures %s: %w", ref, err)
		}
		st, err := readSignature(sigLayer{layer: l, desc: d}, suffix, scheme)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// sigLayer is one layer of a manifest of classic signatures: its content
// and the annotations of its descriptor, where cosign keeps the
// signature, certificate, chain, Rekor entry and timestamp.
type sigLayer struct {
	layer v1.Layer
	desc  v1.Descriptor
}

// RFC3161Timestamp is the signed timestamp cosign keeps beside a layer
// (cosign sign --timestamp-server-url), as cosign's bundle.RFC3161Timestamp
// records it; nil when there is none.
func (l sigLayer) RFC3161Timestamp() ([]byte, error) {
	v, ok := l.desc.Annotations[AnnotationRFC3161Timestamp]
	if !ok || v == "" {
		return nil, nil
	}
	var ts struct{ SignedRFC3161Timestamp []byte }
	if err := json.Unmarshal([]byte(v), &ts); err != nil {
		return nil, err
	}
	return ts.SignedRFC3161Timestamp, nil
}

// readSignature reads one classic signature layer: its payload, and the
// bundle its annotations amount to.
func readSignature(sig sigLayer, suffix, scheme string) (stored, error) {
	st := stored{scheme: scheme}
	d, size := sig.desc.Digest, sig.desc.Size
	// cosign bounds a payload at 128 MiB (or $COSIGN_MAX_ATTACHMENT_SIZE);
	// customs at its own limit, before reading as well as while reading.
	if size < 0 || size > maxSignatureBlob {
		return st, fmt.Errorf("fetching signature %s: %d bytes, not within 0 to %d", d, size, maxSignatureBlob)
	}
	b, err := readLayer(sig.layer)
	if err != nil {
		return st, fmt.Errorf("fetching signature %s: %w", d, err)
	}
	if suffix == "sig" {
		st.payload = b
		st.bundle, st.err = tagBundle(sig, nil, b)
		return st, nil
	}
	env, err := parseEnvelope(b)
	if err != nil {
		st.err = fmt.Errorf("malformed attestation layer %s: %v", d, err)
	} else if st.bundle, st.err = tagBundle(sig, env, nil); st.err == nil {
		st.predicateType, st.err = bundlePredicateType(st.bundle)
	}
	return st, nil
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

// tagBundle builds the v0.1 Sigstore bundle a classic signature layer
// amounts to, from what cosign reads of it: the record of its annotations
// (see cosignBundle) and the RFC 3161 timestamp cosign may keep beside it
// (cosign sign --timestamp-server-url), which dates the signature as a
// log entry does.
func tagBundle(sig sigLayer, env *protodsse.Envelope, payload []byte) (*bundle.Bundle, error) {
	digest := sha256.Sum256(payload)
	b, err := cosignBundle(sig.desc.Annotations, env, digest[:])
	if err != nil {
		return nil, fmt.Errorf("malformed signature layer: %w", err)
	}
	ts, err := sig.RFC3161Timestamp()
	if err != nil {
		return nil, fmt.Errorf("malformed signature layer: RFC 3161 timestamp annotation: %v", err)
	}
	if len(ts) > 0 {
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
		}
	}
	return b, nil
}

// cosignBundle builds the v0.1 Sigstore bundle of a signature as cosign
// v2 records it, in annotations (or in a blob bundle, see LegacyBundle):
// the signature over the SHA-256 digest (or the DSSE envelope env), the
// key or certificate chain, and the Rekor entry.
func cosignBundle(annotations map[string]string, env *protodsse.Envelope, digest []byte) (*bundle.Bundle, error) {
	malformed := func(what string, err error) error {
		return fmt.Errorf("%s: %v", what, err)
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
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest},
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
