package pull

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/customs-dev/customs/internal/cas"
)

// ArchiveError reports an image archive that cannot be read.
type ArchiveError struct {
	Path string
	Err  error
}

func (e *ArchiveError) Error() string {
	return fmt.Sprintf("reading image archive %s: %v", e.Path, e.Err)
}

func (e *ArchiveError) Unwrap() error { return e.Err }

// archiveImage resolves docker-archive: and oci-archive: targets. The
// archive is imported into the cache once, keyed by its sha256; later runs
// on the same file only hash it.
func archiveImage(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	sum, err := hashFile(t.Ref)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t, err)
	}
	store := opts.Cache
	key := t.Kind.String() + "/" + sum
	indexJSON, err := store.Get("archives", key)
	if err != nil {
		if t.Kind == DockerArchive {
			indexJSON, err = importDockerArchive(ctx, t.Ref, store)
		} else {
			indexJSON, err = importOCIArchive(ctx, t.Ref, store)
		}
		if err != nil {
			return nil, &ArchiveError{Path: t.Ref, Err: err}
		}
		if err := store.Put("archives", key, indexJSON); err != nil {
			return nil, fmt.Errorf("caching %s: %w", t, err)
		}
	}
	open := func(h v1.Hash) (io.ReadCloser, error) {
		if h.Algorithm != "sha256" || !isHex(h.Hex) {
			return nil, fmt.Errorf("unsupported digest %s", h)
		}
		f, err := os.Open(store.BlobPath(h.Hex))
		if errors.Is(err, fs.ErrNotExist) {
			// The cache lost a blob: forget the import so the next run redoes it.
			store.Delete("archives", key)
			return nil, fmt.Errorf("cached blob %s is gone; run again to re-import %s", h, t.Ref)
		}
		return f, err
	}
	return indexedImage(ctx, t, indexJSON, open, opts)
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", &UsageError{Msg: p + " is a directory, not an archive", Hint: "for an OCI layout directory write oci:" + p}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tarEntries reads an optionally gzip-compressed tar, storing every regular
// file in the store. It returns each file's digest by cleaned name, symlink
// targets, and the named small files' contents.
type tarContents struct {
	files    map[string]string // name → sha256 hex
	sizes    map[string]int64
	links    map[string]string // name → cleaned target
	keep     map[string][]byte
	keepName func(string) bool
}

func readTar(ctx context.Context, p string, store *cas.Store, keepName func(string) bool) (*tarContents, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	tc := &tarContents{files: map[string]string{}, sizes: map[string]int64{}, links: map[string]string{}, keep: map[string][]byte{}}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// An archive cannot hold more than it expands to; sparse entries and
	// gzip bombs could claim far more. Allow generous compression.
	budget := maxExpansion*fi.Size() + 1<<20
	tr := tar.NewReader(r)
	entries := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("the archive is truncated: %w", err)
			}
			return nil, fmt.Errorf("the archive is corrupt or not a tar file: %w", err)
		}
		entries++
		if entries > maxArchiveEntries {
			return nil, fmt.Errorf("the archive has more than %d entries", maxArchiveEntries)
		}
		if isSparse(hdr) {
			return nil, fmt.Errorf("%s is a sparse file, which image archives do not contain", hdr.Name)
		}
		if hdr.Size > budget {
			return nil, fmt.Errorf("%s claims %d bytes, more than the archive can expand to (%dx its size)", hdr.Name, hdr.Size, maxExpansion)
		}
		budget -= hdr.Size
		name := cleanName(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			if keepName(name) {
				b, err := io.ReadAll(io.LimitReader(tr, maxManifestSize+1))
				if err != nil {
					return nil, truncated(err)
				}
				if len(b) > maxManifestSize {
					return nil, fmt.Errorf("%s is larger than %d bytes", name, maxManifestSize)
				}
				tc.keep[name] = b
				d, n, err := store.PutBlob(bytes.NewReader(b), "")
				if err != nil {
					return nil, err
				}
				tc.files[name], tc.sizes[name] = d, n
				continue
			}
			d, n, err := store.PutBlob(tr, "")
			if err != nil {
				return nil, truncated(err)
			}
			tc.files[name], tc.sizes[name] = d, n
		case tar.TypeSymlink, tar.TypeLink:
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink && !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			tc.links[name] = cleanName(target)
		}
	}
	if entries == 0 {
		return nil, errors.New("the archive is empty or not a tar file")
	}
	return tc, nil
}

// Limits on what an image archive may expand to.
const (
	maxExpansion      = 200
	maxArchiveEntries = 1 << 20
)

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the archive is truncated: %w", err)
	}
	return err
}

func cleanName(n string) string {
	n = path.Clean("/" + strings.TrimPrefix(n, "./"))
	return strings.TrimPrefix(n, "/")
}

// resolve follows symlinks between archive members (docker save writes
// layer.tar links into blobs/).
func (tc *tarContents) resolve(name string) (string, bool) {
	name = cleanName(name)
	for i := 0; i < 16; i++ {
		if d, ok := tc.files[name]; ok {
			return d, true
		}
		t, ok := tc.links[name]
		if !ok {
			return "", false
		}
		name = t
	}
	return "", false
}

type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// importDockerArchive imports a `docker save` tarball and returns an
// index.json for a Docker v2 manifest synthesized from it. Layer contents
// are checked against the config's diff IDs.
func importDockerArchive(ctx context.Context, p string, store *cas.Store) ([]byte, error) {
	tc, err := readTar(ctx, p, store, func(n string) bool { return n == "manifest.json" || n == "index.json" })
	if err != nil {
		return nil, err
	}
	raw, ok := tc.keep["manifest.json"]
	if !ok {
		if _, oci := tc.keep["index.json"]; oci {
			return nil, &UsageError{Msg: p + " has no manifest.json but an index.json", Hint: "it is an OCI archive: use oci-archive:" + p}
		}
		return nil, errors.New("no manifest.json: not a docker save tarball")
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("parsing manifest.json: %w", err)
	}
	if len(entries) != 1 {
		return nil, fmt.Errorf("manifest.json lists %d images; customs reads archives of exactly one image", len(entries))
	}
	e := entries[0]
	cfgHex, ok := tc.resolve(e.Config)
	if !ok {
		return nil, fmt.Errorf("config %s named by manifest.json is missing", e.Config)
	}
	cfgRaw, err := readBlob(store, v1.Hash{Algorithm: "sha256", Hex: cfgHex})
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return nil, fmt.Errorf("parsing image config %s: %w", e.Config, err)
	}
	if len(cf.RootFS.DiffIDs) != len(e.Layers) {
		return nil, fmt.Errorf("image config lists %d layers, manifest.json %d", len(cf.RootFS.DiffIDs), len(e.Layers))
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config: v1.Descriptor{
			MediaType: types.DockerConfigJSON,
			Size:      int64(len(cfgRaw)),
			Digest:    v1.Hash{Algorithm: "sha256", Hex: cfgHex},
		},
	}
	for i, l := range e.Layers {
		d, ok := tc.resolve(l)
		if !ok {
			return nil, fmt.Errorf("layer %s named by manifest.json is missing", l)
		}
		h := v1.Hash{Algorithm: "sha256", Hex: d}
		diffID, mt, err := layerDiffID(store, h)
		if err != nil {
			return nil, fmt.Errorf("reading layer %s: %w", l, err)
		}
		if diffID != cf.RootFS.DiffIDs[i] {
			return nil, fmt.Errorf("layer %d (%s) digest mismatch: its content is %s but the image config says %s", i, l, diffID, cf.RootFS.DiffIDs[i])
		}
		fi, err := os.Stat(store.BlobPath(d))
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: fi.Size(), Digest: h})
	}
	mraw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mhex, _, err := store.PutBlob(bytes.NewReader(mraw), "")
	if err != nil {
		return nil, err
	}
	desc := v1.Descriptor{
		MediaType: types.DockerManifestSchema2,
		Size:      int64(len(mraw)),
		Digest:    v1.Hash{Algorithm: "sha256", Hex: mhex},
	}
	if len(e.RepoTags) > 0 {
		desc.Annotations = map[string]string{refNameAnnotation: e.RepoTags[0]}
	}
	return json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{desc}})
}

// layerDiffID returns the digest of a layer's uncompressed tar and the
// media type that describes the stored blob.
func layerDiffID(store *cas.Store, h v1.Hash) (v1.Hash, types.MediaType, error) {
	f, err := os.Open(store.BlobPath(h.Hex))
	if err != nil {
		return v1.Hash{}, "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return h, types.DockerUncompressedLayer, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return v1.Hash{}, "", err
	}
	d, _, err := v1.SHA256(zr)
	return d, types.DockerLayer, err
}

// importOCIArchive imports a tarred OCI layout and returns its index.json.
// Blob names are checked against their contents.
func importOCIArchive(ctx context.Context, p string, store *cas.Store) ([]byte, error) {
	tc, err := readTar(ctx, p, store, func(n string) bool { return n == "index.json" || n == "manifest.json" })
	if err != nil {
		return nil, err
	}
	for name, d := range tc.files {
		if want, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && want != d {
			return nil, fmt.Errorf("blob %s digest mismatch: its content is sha256:%s", name, d)
		}
	}
	raw, ok := tc.keep["index.json"]
	if !ok {
		if _, docker := tc.keep["manifest.json"]; docker {
			return nil, &UsageError{Msg: p + " has no index.json but a manifest.json", Hint: "it is a docker save tarball: use docker-archive:" + p}
		}
		return nil, errors.New("no index.json: not an OCI archive")
	}
	return raw, nil
}
