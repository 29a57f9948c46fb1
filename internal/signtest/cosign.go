package signtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media and artifact types of what cosign attaches to an image.
const (
	BundleMediaType             = "application/vnd.dev.sigstore.bundle.v0.3+json"
	EmptyMediaType              = "application/vnd.oci.empty.v1+json"
	CosignSignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	SimpleSigningMediaType      = "application/vnd.dev.cosign.simplesigning.v1+json"
)

// Blob is a layer of a referrer manifest.
type Blob struct {
	Data        []byte
	MediaType   string
	Annotations map[string]string
}

// Manifest is an OCI 1.1 manifest to attach to an image, written byte
// for byte as given (go-containerregistry's mutate cannot set every field
// cosign writes).
type Manifest struct {
	// ArtifactType is the manifest's artifactType, "" for none.
	ArtifactType string
	// Config is the config blob's media type and the artifactType cosign
	// v2 also writes into its descriptor; "" is the empty config.
	ConfigMediaType, ConfigArtifactType string
	Layers                              []Blob
	Annotations                         map[string]string
}

// Attach pushes m, with subject as its subject, into repo and returns its
// digest. Where the registry has no referrers API, go-containerregistry
// lists it in the referrers tag, <repo>:sha256-<hex> of the subject, as
// its current version does: with m's artifact type (else its config's
// media type) and annotations.
func Attach(t testing.TB, repo string, subject v1.Image, m Manifest) v1.Hash {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b Blob) v1.Descriptor {
		l := static.NewLayer(b.Data, types.MediaType(b.MediaType))
		if err := remote.WriteLayer(r, l); err != nil {
			t.Fatalf("pushing a blob to %s: %v", repo, err)
		}
		d, _ := l.Digest()
		return v1.Descriptor{MediaType: types.MediaType(b.MediaType), Size: int64(len(b.Data)), Digest: d, Annotations: b.Annotations}
	}
	if m.ConfigMediaType == "" {
		m.ConfigMediaType = EmptyMediaType
	}
	config := write(Blob{Data: []byte("{}"), MediaType: m.ConfigMediaType})
	config.ArtifactType = m.ConfigArtifactType
	layers := []v1.Descriptor{}
	for _, l := range m.Layers {
		layers = append(layers, write(l))
	}
	sd, err := subject.Digest()
	if err != nil {
		t.Fatal(err)
	}
	smt, _ := subject.MediaType()
	ssz, _ := subject.Size()
	raw, err := json.Marshal(struct {
		v1.Manifest
		ArtifactType string `json:"artifactType,omitempty"`
	}{v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        config,
		Layers:        layers,
		Subject:       &v1.Descriptor{MediaType: smt, Size: ssz, Digest: sd},
		Annotations:   m.Annotations,
	}, m.ArtifactType})
	if err != nil {
		t.Fatal(err)
	}
	d, _, _ := v1.SHA256(bytes.NewReader(raw))
	if err := remote.Put(r.Digest(d.String()), rawManifest(raw)); err != nil {
		t.Fatalf("pushing a referrer to %s: %v", repo, err)
	}
	return d
}

// Relist rewrites the entry of referrer in the referrers tag of subject,
// on a registry without the referrers API, to say artifactType and no
// annotations: what cosign v2.6.5 writes there, built with a
// go-containerregistry that took the artifact type from the config's
// media type and dropped the annotations.
func Relist(t testing.TB, repo string, subject, referrer v1.Hash, artifactType string) {
	t.Helper()
	EditReferrersTag(t, repo, subject, func(im *v1.IndexManifest) {
		for i, d := range im.Manifests {
			if d.Digest == referrer {
				im.Manifests[i].ArtifactType = artifactType
				im.Manifests[i].Annotations = nil
				return
			}
		}
		t.Fatalf("the referrers tag of %s does not list %s", subject, referrer)
	})
}

// EditReferrersTag rewrites the referrers tag of subject (an OCI index,
// <repo>:sha256-<hex>), on a registry without the referrers API.
func EditReferrersTag(t testing.TB, repo string, subject v1.Hash, edit func(*v1.IndexManifest)) {
	t.Helper()
	tag, err := name.NewTag(repo+":"+subject.Algorithm+"-"+subject.Hex, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	im := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	if idx, err := remote.Index(tag); err == nil {
		if im, err = idx.IndexManifest(); err != nil {
			t.Fatal(err)
		}
	}
	edit(im)
	raw, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, rawIndex(raw)); err != nil {
		t.Fatalf("writing the referrers tag %s: %v", tag, err)
	}
}

// AttachBundleCosignV2 attaches a Sigstore bundle (JSON) to subject as
// cosign v2.6.5 does with --new-bundle-format (its WriteReferrer): the
// empty config, an artifactType on the manifest and on its config
// descriptor, the predicate type in annotations; listed in the referrers
// tag with the empty artifact type and no annotations.
func AttachBundleCosignV2(t testing.TB, repo string, subject v1.Image, bundleJSON []byte, predicateType string) v1.Hash {
	t.Helper()
	d := Attach(t, repo, subject, Manifest{
		ArtifactType:       BundleMediaType,
		ConfigArtifactType: BundleMediaType,
		Layers:             []Blob{{Data: bundleJSON, MediaType: BundleMediaType}},
		Annotations: map[string]string{
			"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": predicateType,
		},
	})
	sd, err := subject.Digest()
	if err != nil {
		t.Fatal(err)
	}
	Relist(t, repo, sd, d, EmptyMediaType)
	return d
}

// SignReferrer stores a signature of payload as cosign v2 `sign
// --registry-referrers-mode=oci-1-1` does: the manifest it would put
// under the .sig tag, a layer holding the payload annotated with the
// signature, as a referrer of subject whose artifact type (and config
// media type) is cosign's signature artifact type.
func SignReferrer(t testing.TB, repo string, subject v1.Image, payload []byte, key *ecdsa.PrivateKey) v1.Hash {
	t.Helper()
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return Attach(t, repo, subject, Manifest{
		ArtifactType:    CosignSignatureArtifactType,
		ConfigMediaType: CosignSignatureArtifactType,
		Layers: []Blob{{Data: payload, MediaType: SimpleSigningMediaType, Annotations: map[string]string{
			"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig),
		}}},
	})
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

type rawIndex []byte

func (r rawIndex) RawManifest() ([]byte, error)        { return r, nil }
func (r rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }

// AnnotatedPayload is the simple-signing payload cosign v2 `sign -a
// KEY=VALUE` signs: the annotations in its optional section.
func AnnotatedPayload(repo string, d v1.Hash, annotations map[string]string) []byte {
	b, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": d.String()},
			"type":     "cosign container image signature",
		},
		"optional": annotations,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// SignStatement is the in-toto statement cosign signs for an image in the
// bundle format (predicate https://sigstore.dev/cosign/sign/v1): cosign
// v3 puts the annotations of `sign -a KEY=VALUE` on the subject; cosign
// v2 has none (pass nil).
func SignStatement(d v1.Hash, annotations map[string]string) []byte {
	subject := map[string]any{"digest": map[string]string{d.Algorithm: d.Hex}}
	if annotations != nil {
		subject["annotations"] = annotations
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{subject},
		"predicateType": "https://sigstore.dev/cosign/sign/v1",
		"predicate":     map[string]any{},
	})
	if err != nil {
		panic(err)
	}
	return b
}
