package pull

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/hint"
)

// ErrNotImage reports a manifest that does not describe a container image
// (a Helm chart, a signature or another OCI artifact).
var ErrNotImage = errors.New("not a container image")

// PlatformError reports that a target has no image for the wanted
// platform: no entry of an index matches it, or the config of a single
// image names another platform or none.
type PlatformError struct {
	Want v1.Platform
	// Available are the platforms the target has: an index's entries, or
	// a single image's config.
	Available []string
	// Unknown is set when the target is a single image whose config names
	// no os and architecture, so that it cannot be matched to any platform.
	Unknown bool
}

func (e *PlatformError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("no image for platform %s: the image config names no os and architecture, so its platform is unknown; %s", e.Want.String(), hint.Text(e, hint.Plain))
	}
	return fmt.Sprintf("no image for platform %s (available: %s); %s", e.Want.String(), strings.Join(e.Available, ", "), hint.Text(e, hint.Plain))
}

// Hint implements hint.Hinted.
func (e *PlatformError) Hint() (setting, advice string) {
	if e.Unknown {
		return "platform", "leave out %s to take it as it is"
	}
	return "platform", "pick one with %s"
}

// platformMatches reports whether an image for have is what want asks
// for: os and architecture are equal, and the variant and os version are
// when want names them. arm64 has one variant, so v8 and none are the same,
// as containerd normalizes them.
func platformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	if want.Variant != "" && normalVariant(have) != normalVariant(want) {
		return false
	}
	return want.OSVersion == "" || have.OSVersion == want.OSVersion
}

func normalVariant(p v1.Platform) string {
	if p.Architecture == "arm64" && (p.Variant == "v8" || p.Variant == "8") {
		return ""
	}
	return p.Variant
}

// blobFetcher returns a blob's bytes, verified against its digest.
type blobFetcher func(v1.Hash) ([]byte, error)

// fetchers read the small blobs that selecting an image needs. A registry
// serves manifests and configs from different endpoints; a layout or an
// archive serves both alike.
type fetchers struct {
	manifest blobFetcher // a manifest or an index
	config   blobFetcher // an image config
}

type selection struct {
	manifest v1.Hash
	index    v1.Hash
	platform *v1.Platform
	// fromConfig is set when platform was read from the image config
	// rather than from an index entry.
	fromConfig bool
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
// for the platform. explicit says that the platform was asked for rather
// than defaulted to the host's: only then must a single image's config
// match it, since an image without an index runs where it was built for,
// whatever the host.
func selectImage(root v1.Hash, raw []byte, mt types.MediaType, fetch fetchers, want v1.Platform, explicit bool) (selection, error) {
	return selectImageDepth(root, raw, mt, fetch, want, explicit, 0)
}

// maxIndexDepth bounds indexes nested in indexes.
const maxIndexDepth = 4

// maxConfigLookups bounds the entries of an index without platform data
// whose platform is read from their config.
const maxConfigLookups = 16

func selectImageDepth(root v1.Hash, raw []byte, mt types.MediaType, fetch fetchers, want v1.Platform, explicit bool, depth int) (selection, error) {
	if depth > maxIndexDepth {
		return selection{}, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
	}
	if !isIndex(mt, raw) {
		return selectSingle(root, raw, fetch, want, explicit)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return selection{}, fmt.Errorf("parsing index %s: %w", root, err)
	}
	// An index of one entry without platform data stands for what it
	// points to: a single image is checked by its config.
	if len(index.Manifests) == 1 && index.Manifests[0].Platform == nil {
		d := index.Manifests[0]
		child, err := fetch.manifest(d.Digest)
		if err != nil {
			return selection{}, err
		}
		s, err := selectImageDepth(d.Digest, child, d.MediaType, fetch, want, explicit, depth+1)
		if err != nil {
			return selection{}, err
		}
		if !isIndex(d.MediaType, child) {
			s.index = root
		}
		return s, nil
	}
	var available []string
	lookups := 0
	for _, d := range index.Manifests {
		if d.Platform == nil {
			// Each costs two fetches; a hostile index could list thousands.
			if lookups++; lookups > maxConfigLookups {
				continue
			}
		}
		p, s, err := entryPlatform(d, fetch)
		if err != nil {
			return selection{}, err
		}
		if p == nil {
			continue
		}
		available = append(available, p.String())
		if !platformMatches(*p, want) {
			continue
		}
		if s != nil { // an image whose platform its config gave
			s.index = root
			return *s, nil
		}
		if d.MediaType.IsIndex() {
			child, err := fetch.manifest(d.Digest)
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
		raw, err := fetch.manifest(d.Digest)
		if err != nil {
			return selection{}, err
		}
		return selection{manifest: d.Digest, index: root, platform: p}, checkImageManifest(raw)
	}
	sort.Strings(available)
	return selection{}, &PlatformError{Want: want, Available: available}
}

// entryPlatform is the platform of an index entry: the one the index
// gives, or for an image entry without one, its config's. nil means the
// entry is none to choose: a buildkit attestation, an artifact, an index
// or image without platform data. For an entry resolved through its
// config, the selection of that image is returned too.
func entryPlatform(d v1.Descriptor, fetch fetchers) (*v1.Platform, *selection, error) {
	if d.Platform != nil {
		if d.Platform.Architecture == "unknown" { // buildkit attestation manifests
			return nil, nil, nil
		}
		p := *d.Platform
		return &p, nil, nil
	}
	if d.MediaType.IsIndex() {
		return nil, nil, nil
	}
	raw, err := fetch.manifest(d.Digest)
	if err != nil {
		return nil, nil, err
	}
	if isIndex(d.MediaType, raw) || checkImageManifest(raw) != nil {
		return nil, nil, nil
	}
	p, err := configPlatform(raw, fetch.config)
	if err != nil || p == nil {
		return nil, nil, err
	}
	return p, &selection{manifest: d.Digest, platform: p, fromConfig: true}, nil
}

// selectSingle checks an image manifest that is not in an index with
// platform data, and, when a platform was asked for, that its config names
// that platform.
func selectSingle(root v1.Hash, raw []byte, fetch fetchers, want v1.Platform, explicit bool) (selection, error) {
	if err := checkImageManifest(raw); err != nil {
		return selection{}, err
	}
	if !explicit {
		return selection{manifest: root}, nil
	}
	p, err := configPlatform(raw, fetch.config)
	if err != nil {
		return selection{}, err
	}
	if p == nil {
		return selection{}, &PlatformError{Want: want, Unknown: true}
	}
	if !platformMatches(*p, want) {
		return selection{}, &PlatformError{Want: want, Available: []string{p.String()}}
	}
	return selection{manifest: root, platform: p, fromConfig: true}, nil
}

// configPlatform reads the platform an image manifest's config names; nil
// if it names no os or no architecture.
func configPlatform(rawManifest []byte, fetch blobFetcher) (*v1.Platform, error) {
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	raw, err := fetch(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image config %s: %w", m.Config.Digest, err)
	}
	var cf struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
		OSVersion    string `json:"os.version"`
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("parsing image config %s: %w", m.Config.Digest, err)
	}
	if cf.OS == "" || cf.Architecture == "" {
		return nil, nil
	}
	return &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}, nil
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

// blobOpener opens a blob by digest, from the cache or from a local
// image's own files.
type blobOpener func(v1.Hash) (io.ReadCloser, error)

// cachedImage builds an image from blobs in the store, verifying each layer
// first. Missing or corrupt blobs are reported as fs.ErrNotExist so that
// the caller can fetch them again.
func cachedImage(store *cas.Store, manifest v1.Hash, lim Limits) (v1.Image, error) {
	raw, err := readBlob(store, manifest, lim)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", manifest, err)
	}
	cfg, err := readBlob(store, m.Config.Digest, lim)
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if err := verifyBlob(store, l.Digest); err != nil {
			return nil, err
		}
	}
	return newImage(raw, cfg, func(h v1.Hash) (io.ReadCloser, error) {
		return os.Open(store.BlobPath(h.Hex))
	}, lim)
}

// newImage is an image whose layers open reads. Layer contents are checked
// as they are read: the compressed digest and, for compressed layers, the
// diff ID from the config, so that a reader that consumes a layer to the
// end never sees content that does not match the manifest.
func newImage(rawManifest, rawConfig []byte, open blobOpener, lim Limits) (*blobImage, error) {
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	if err := lim.checkManifest(m); err != nil {
		return nil, err
	}
	lim = lim.orDefaults()
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("parsing image config %s: %w", m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image config lists %d layers, manifest %d", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	img := &blobImage{raw: rawManifest, cfgRaw: rawConfig, manifest: m, config: cf, files: new(atomic.Int64)}
	for i, d := range m.Layers {
		if d.Digest.Algorithm != "sha256" {
			return nil, fmt.Errorf("layer %s: unsupported digest algorithm", d.Digest)
		}
		img.layers = append(img.layers, &blobLayer{desc: d, diffID: cf.RootFS.DiffIDs[i], open: open, limits: lim, files: img.files})
	}
	return img, nil
}

type blobImage struct {
	raw, cfgRaw []byte
	manifest    *v1.Manifest
	config      *v1.ConfigFile
	layers      []*blobLayer
	// files counts the tar entries its layers' readers have seen, for
	// Limits.MaxFiles.
	files *atomic.Int64
}

var _ v1.Image = (*blobImage)(nil)

func (i *blobImage) Layers() ([]v1.Layer, error) {
	ls := make([]v1.Layer, len(i.layers))
	for n, l := range i.layers {
		ls[n] = l
	}
	return ls, nil
}

func (i *blobImage) MediaType() (types.MediaType, error) {
	if i.manifest.MediaType == "" {
		return types.OCIManifestSchema1, nil
	}
	return i.manifest.MediaType, nil
}

func (i *blobImage) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *blobImage) ConfigName() (v1.Hash, error)        { return i.manifest.Config.Digest, nil }
func (i *blobImage) ConfigFile() (*v1.ConfigFile, error) { return i.config.DeepCopy(), nil }
func (i *blobImage) RawConfigFile() ([]byte, error)      { return i.cfgRaw, nil }
func (i *blobImage) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }
func (i *blobImage) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *blobImage) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.raw))
	return h, err
}

func (i *blobImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if l.desc.Digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

func (i *blobImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if l.diffID == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer with diff ID %s in the image", h)
}

type blobLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	open   blobOpener
	limits Limits
	files  *atomic.Int64
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Compressed returns the blob as stored, checked against its digest when
// read to the end.
func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.open(l.desc.Digest)
	if err != nil {
		return nil, err
	}
	return newVerifier(rc, l.desc.Digest, "layer "+l.desc.Digest.String()+" digest mismatch"), nil
}

// Uncompressed returns the layer's tar, decompressed with
// klauspost/compress (about twice as fast as compress/gzip) and checked
// against the diff ID when read to the end.
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 1<<16)
	magic, _ := br.Peek(4)
	var r io.Reader
	var closeDec func()
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := kgzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("layer %s: %w", l.desc.Digest, err)
		}
		r, closeDec = zr, func() { zr.Close() }
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("layer %s: %w", l.desc.Digest, err)
		}
		r, closeDec = zr, zr.Close
	default:
		// Uncompressed: the digest is the diff ID and Compressed checks it.
		return &readCloser{Reader: newEntryLimit(br, l.desc.Digest.String(), l.files, l.limits), close: rc.Close}, nil
	}
	// A decompression bomb stops at the limit instead of filling the disk
	// the extraction writes to.
	max := l.limits.MaxExpansion
	r = &expansionLimit{r: r, left: max*l.desc.Size + 1<<20, max: max, layer: l.desc.Digest.String()}
	r = newEntryLimit(r, l.desc.Digest.String(), l.files, l.limits)
	v := newVerifier(io.NopCloser(r), l.diffID, "layer "+l.desc.Digest.String()+": uncompressed content does not match the diff ID in the image config (digest mismatch)")
	return readAhead(&readCloser{Reader: v, close: func() error {
		closeDec()
		return rc.Close()
	}}, 1<<20, 4), nil
}

type expansionLimit struct {
	r         io.Reader
	left, max int64
	layer     string
}

func (e *expansionLimit) Read(b []byte) (int, error) {
	if e.left <= 0 {
		return 0, fmt.Errorf("layer %s: %w", e.layer, &LimitError{What: "a layer that decompresses to more than its compressed size times", Value: e.max + 1, Max: e.max, Setting: "max-expansion"})
	}
	if int64(len(b)) > e.left {
		b = b[:e.left]
	}
	n, err := e.r.Read(b)
	e.left -= int64(n)
	return n, err
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// verifier hashes what is read and fails the read that reaches the end if
// the content does not match the digest.
type verifier struct {
	rc   io.ReadCloser
	h    hash.Hash
	want v1.Hash
	msg  string
}

func newVerifier(rc io.ReadCloser, want v1.Hash, msg string) *verifier {
	return &verifier{rc: rc, h: sha256.New(), want: want, msg: msg}
}

func (v *verifier) Read(b []byte) (int, error) {
	n, err := v.rc.Read(b)
	v.h.Write(b[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, fmt.Errorf("%s: content is sha256:%s, want %s", v.msg, got, v.want)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// readBlob reads and verifies a small blob from the store.
func readBlob(store *cas.Store, h v1.Hash, lim Limits) ([]byte, error) {
	if h.Algorithm != "sha256" {
		return nil, fmt.Errorf("unsupported digest algorithm %q", h.Algorithm)
	}
	f, err := os.Open(store.BlobPath(h.Hex))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readVerified(f, h, lim)
	if errors.Is(err, fs.ErrNotExist) {
		os.Remove(store.BlobPath(h.Hex)) // corrupt: fetch it again
	}
	return b, err
}

// readSmall reads a manifest, index or config, up to the limit.
func readSmall(r io.Reader, lim Limits) ([]byte, error) {
	max := lim.orDefaults().MaxManifestSize
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &LimitError{What: "a manifest, index or config of more bytes than", Value: max + 1, Max: max, Setting: "max-manifest-size"}
	}
	return b, nil
}

// readVerified reads a small blob (a manifest, index or config) and checks
// its digest.
func readVerified(r io.Reader, h v1.Hash, lim Limits) ([]byte, error) {
	b, err := readSmall(r, lim)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != h {
		return nil, fmt.Errorf("blob %s: digest mismatch, content is %s: %w", h, got, fs.ErrNotExist)
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
