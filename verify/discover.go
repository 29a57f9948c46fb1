package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

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
