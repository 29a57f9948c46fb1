package pull

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/customs-dev/customs/internal/cas"
)

// maxManifestSize bounds manifests and configs read into memory.
const maxManifestSize = 4 << 20

// ErrNotImage reports a manifest that does not describe a container image
// (a Helm chart, a signature or another OCI artifact).
var ErrNotImage = errors.New("not a container image")

// PlatformError reports that an index has no image for the wanted platform.
type PlatformError struct {
	Want      v1.Platform
	Available []string
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("no image for platform %s (available: %s); pick one with --platform", e.Want.String(), strings.Join(e.Available, ", "))
}

// blobFetcher returns a blob's bytes, verified against its digest.
type blobFetcher func(v1.Hash) ([]byte, error)

type selection struct {
	manifest v1.Hash
	index    v1.Hash
	platform *v1.Platform
}

func isIndex(mt types.MediaType, raw []byte) bool {
	switch mt {
	case types.OCIImageIndex, types.DockerManifestList:
		return true
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		return false
	}
	var probe struct {
		Manifests json.RawMessage `json:"manifests"`
		Layers    json.RawMessage `json:"layers"`
		MediaType types.MediaType `json:"mediaType"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return false
	}
	if probe.MediaType != "" && probe.MediaType != mt {
		return isIndex(probe.MediaType, raw)
	}
	return probe.Manifests != nil && probe.Layers == nil
}

// selectImage walks from a root manifest or index to the image manifest
// for the platform.
func selectImage(root v1.Hash, raw []byte, mt types.MediaType, fetch blobFetcher, want v1.Platform, explicit bool) (selection, error) {
	return selectImageDepth(root, raw, mt, fetch, want, explicit, 0)
}

// maxIndexDepth bounds indexes nested in indexes.
const maxIndexDepth = 4

func selectImageDepth(root v1.Hash, raw []byte, mt types.MediaType, fetch blobFetcher, want v1.Platform, explicit bool, depth int) (selection, error) {
	if depth > maxIndexDepth {
		return selection{}, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
	}
	if !isIndex(mt, raw) {
		return selection{manifest: root}, checkImageManifest(raw)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return selection{}, fmt.Errorf("parsing index %s: %w", root, err)
	}
	var available []string
	for _, d := range index.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.Architecture == "unknown" { // buildkit attestation manifests
			continue
		}
		available = append(available, d.Platform.String())
		if !d.Platform.Satisfies(want) {
			continue
		}
		if d.MediaType.IsIndex() {
			child, err := fetch(d.Digest)
			if err != nil {
				return selection{}, err
			}
			s, err := selectImageDepth(d.Digest, child, d.MediaType, fetch, want, explicit, depth+1)
			if err != nil {
				return selection{}, err
			}
			s.index = root
			return s, nil
		}
		raw, err := fetch(d.Digest)
		if err != nil {
			return selection{}, err
		}
		p := *d.Platform
		return selection{manifest: d.Digest, index: root, platform: &p}, checkImageManifest(raw)
	}
	// An index of one image without platform data is an image.
	if len(index.Manifests) == 1 && index.Manifests[0].Platform == nil && !explicit {
		d := index.Manifests[0]
		raw, err := fetch(d.Digest)
		if err != nil {
			return selection{}, err
		}
		if isIndex(d.MediaType, raw) {
			return selectImageDepth(d.Digest, raw, d.MediaType, fetch, want, explicit, depth+1)
		}
		return selection{manifest: d.Digest, index: root}, checkImageManifest(raw)
	}
	sort.Strings(available)
	return selection{}, &PlatformError{Want: want, Available: available}
}

func checkImageManifest(raw []byte) error {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parsing manifest: %w", err)
	}
	switch m.Config.MediaType {
	case types.OCIConfigJSON, types.DockerConfigJSON, "":
	default:
		return fmt.Errorf("manifest has config of type %q: %w", m.Config.MediaType, ErrNotImage)
	}
	if len(m.Layers) == 0 && m.Config.Digest.Hex == "" {
		return fmt.Errorf("manifest has no config and no layers: %w", ErrNotImage)
	}
	return nil
}

// cachedImage builds an image from blobs in the store, verifying each blob
// first. Missing or corrupt blobs are reported as fs.ErrNotExist so that
// the caller can fetch them again.
func cachedImage(store *cas.Store, manifest v1.Hash) (v1.Image, error) {
	raw, err := readBlob(store, manifest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", manifest, err)
	}
	cfg, err := readBlob(store, m.Config.Digest)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("parsing image config %s: %w", m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image config lists %d layers, manifest %d", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	layers := make(map[v1.Hash]*blobLayer, len(m.Layers))
	for i, l := range m.Layers {
		if err := verifyBlob(store, l.Digest); err != nil {
			return nil, err
		}
		layers[l.Digest] = &blobLayer{store: store, desc: l, diffID: cf.RootFS.DiffIDs[i]}
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	return partial.CompressedToImage(&blobImage{raw: raw, cfg: cfg, mt: mt, layers: layers})
}

// readBlob reads and verifies a small blob from the store.
func readBlob(store *cas.Store, h v1.Hash) ([]byte, error) {
	if h.Algorithm != "sha256" {
		return nil, fmt.Errorf("unsupported digest algorithm %q", h.Algorithm)
	}
	f, err := os.Open(store.BlobPath(h.Hex))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", h, maxManifestSize)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != h {
		os.Remove(store.BlobPath(h.Hex))
		return nil, fmt.Errorf("cached blob %s: %w (removed)", h, fs.ErrNotExist)
	}
	return b, nil
}

func verifyBlob(store *cas.Store, h v1.Hash) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("unsupported digest algorithm %q", h.Algorithm)
	}
	err := store.VerifyBlob(h.Hex)
	if errors.Is(err, cas.ErrCorrupt) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

type blobImage struct {
	raw, cfg []byte
	mt       types.MediaType
	layers   map[v1.Hash]*blobLayer
}

func (i *blobImage) RawConfigFile() ([]byte, error)      { return i.cfg, nil }
func (i *blobImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *blobImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *blobImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := i.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

type blobLayer struct {
	store  *cas.Store
	desc   v1.Descriptor
	diffID v1.Hash
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	return os.Open(l.store.BlobPath(l.desc.Digest.Hex))
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
