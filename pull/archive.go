package pull

import (
	"archive/tar"
	"bufio"
	"bytes"
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
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/tarx"
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

// archiveEntry is what the cache keeps of an imported archive, keyed by
// the archive's sha256: its index.json, and for an uncompressed archive
// where each large blob lies in it, so that blobs are read in place.
type archiveEntry struct {
	Index    json.RawMessage    `json:"index"`
	Sections map[string]section `json:"sections,omitempty"` // sha256 hex → place in the archive
}

type section struct {
	Off  int64 `json:"off"`
	Size int64 `json:"size"`
}

// archiveImage resolves docker-archive: and oci-archive: targets. The
// archive is indexed once, keyed by its sha256; later runs on the same file
// only hash it. Layers are read from the archive itself (or, for a
// gzip-compressed archive, from the cache it was unpacked into).
func archiveImage(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	start := time.Now()
	sum, err := hashFile(t.Ref)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t, err)
	}
	opts.logger().Debug("hashed archive", "path", t.Ref, "sha256", sum, "took", time.Since(start))
	store := opts.Cache
	key := t.Kind.String() + "/" + sum
	var entry archiveEntry
	raw, err := store.Get("archives", key)
	if err == nil {
		err = json.Unmarshal(raw, &entry)
	}
	if err != nil {
		if t.Kind == DockerArchive {
			entry, err = importDockerArchive(ctx, t.Ref, store, opts.Limits)
		} else {
			entry, err = importOCIArchive(ctx, t.Ref, store, opts.Limits)
		}
		if err != nil {
			return nil, &ArchiveError{Path: t.Ref, Err: err}
		}
		opts.logger().Debug("indexed archive", "path", t.Ref, "took", time.Since(start))
		raw, err := json.Marshal(entry)
		if err != nil {
			return nil, err
		}
		if err := store.Put("archives", key, raw); err != nil {
			return nil, fmt.Errorf("caching %s: %w", t, err)
		}
	}
	open := func(h v1.Hash) (io.ReadCloser, error) {
		if h.Algorithm != "sha256" || !isHex(h.Hex) {
			return nil, fmt.Errorf("unsupported digest %s", h)
		}
		if sec, ok := entry.Sections[h.Hex]; ok {
			f, err := os.Open(t.Ref)
			if err != nil {
				return nil, err
			}
			return &readCloser{Reader: io.NewSectionReader(f, sec.Off, sec.Size), close: f.Close}, nil
		}
		f, err := os.Open(store.BlobPath(h.Hex))
		if errors.Is(err, fs.ErrNotExist) {
			// The cache lost a blob: forget the import so the next run redoes it.
			store.Delete("archives", key)
			return nil, fmt.Errorf("cached blob %s is gone; run again to re-import %s", h, t.Ref)
		}
		return f, err
	}
	return indexedImage(ctx, t, entry.Index, open, opts)
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
	sections map[string]section // sha256 hex → place, for large files of an uncompressed archive
}

// inPlaceMin is the size from which a file of an uncompressed archive is
// read in place rather than copied into the cache.
const inPlaceMin = 1 << 20

func readTar(ctx context.Context, p string, store *cas.Store, lim Limits, keepName func(string) bool) (*tarContents, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	var counter *countingReader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := kgzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		// tar.Reader reads whole blocks and no further, so the count after
		// Next is where the entry's content starts in the file.
		counter = &countingReader{r: br}
		r = counter
	}
	tc := &tarContents{files: map[string]string{}, sizes: map[string]int64{}, links: map[string]string{}, keep: map[string][]byte{}, sections: map[string]section{}}
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
		if tarx.Sparse(hdr) {
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
				b, err := readSmall(tr, lim)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, truncated(err))
				}
				tc.keep[name] = b
				d, n, err := store.PutBlob(bytes.NewReader(b), "")
				if err != nil {
					return nil, err
				}
				tc.files[name], tc.sizes[name] = d, n
				continue
			}
			if counter != nil && hdr.Size >= inPlaceMin {
				off := counter.n
				d, named := digestInName(name)
				n := hdr.Size
				if !named {
					h := sha256.New()
					if n, err = io.Copy(h, tr); err != nil {
						return nil, truncated(err)
					}
					d = hex.EncodeToString(h.Sum(nil))
				} else if _, err := io.Copy(io.Discard, tr); err != nil {
					return nil, truncated(err)
				}
				tc.files[name], tc.sizes[name] = d, n
				tc.sections[d] = section{Off: off, Size: n}
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

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the archive is truncated: %w", err)
	}
	return err
}

// digestInName returns the sha256 that a blob's name gives: docker save
// (25 and later) writes blobs/sha256/HEX, go-containerregistry HEX.tar.gz.
// The name is taken at its word here, saving a pass over the layers: every
// blob is checked against that digest when it is read (blobLayer), so a
// name that lies fails the read, as a wrong hash would.
func digestInName(name string) (string, bool) {
	base := strings.TrimPrefix(name, "blobs/sha256/")
	if base == name {
		base = strings.TrimSuffix(name, ".tar.gz")
	}
	return base, base != name && len(base) == 64 && isHex(base)
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

// importDockerArchive indexes a `docker save` tarball and returns an
// index.json for a Docker v2 manifest synthesized from it. Uncompressed
// layers are checked against the config's diff IDs here; compressed ones
// when they are read.
func importDockerArchive(ctx context.Context, p string, store *cas.Store, lim Limits) (archiveEntry, error) {
	tc, err := readTar(ctx, p, store, lim, func(n string) bool { return n == "manifest.json" || n == "index.json" })
	if err != nil {
		return archiveEntry{}, err
	}
	raw, ok := tc.keep["manifest.json"]
	if !ok {
		if _, oci := tc.keep["index.json"]; oci {
			return archiveEntry{}, &UsageError{Msg: p + " has no manifest.json but an index.json", Hint: "it is an OCI archive: use oci-archive:" + p}
		}
		return archiveEntry{}, errors.New("no manifest.json: not a docker save tarball")
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return archiveEntry{}, fmt.Errorf("parsing manifest.json: %w", err)
	}
	if len(entries) != 1 {
		return archiveEntry{}, fmt.Errorf("manifest.json lists %d images; customs reads archives of exactly one image", len(entries))
	}
	e := entries[0]
	cfgHex, ok := tc.resolve(e.Config)
	if !ok {
		return archiveEntry{}, fmt.Errorf("config %s named by manifest.json is missing", e.Config)
	}
	if _, inPlace := tc.sections[cfgHex]; inPlace {
		return archiveEntry{}, fmt.Errorf("config %s is larger than %d bytes", e.Config, inPlaceMin)
	}
	cfgRaw, err := readBlob(store, v1.Hash{Algorithm: "sha256", Hex: cfgHex}, lim)
	if err != nil {
		return archiveEntry{}, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return archiveEntry{}, fmt.Errorf("parsing image config %s: %w", e.Config, err)
	}
	if len(cf.RootFS.DiffIDs) != len(e.Layers) {
		return archiveEntry{}, fmt.Errorf("image config lists %d layers, manifest.json %d", len(cf.RootFS.DiffIDs), len(e.Layers))
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
			return archiveEntry{}, fmt.Errorf("layer %s named by manifest.json is missing", l)
		}
		h := v1.Hash{Algorithm: "sha256", Hex: d}
		gz, err := tc.isGzip(p, store, d)
		if err != nil {
			return archiveEntry{}, fmt.Errorf("reading layer %s: %w", l, err)
		}
		mt := types.DockerLayer
		if !gz {
			mt = types.DockerUncompressedLayer
			if h != cf.RootFS.DiffIDs[i] {
				return archiveEntry{}, fmt.Errorf("layer %d (%s) digest mismatch: its content is %s but the image config says %s", i, l, h, cf.RootFS.DiffIDs[i])
			}
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: tc.sizes[cleanName(l)], Digest: h})
		if m.Layers[i].Size == 0 {
			m.Layers[i].Size = tc.sizeOf(d)
		}
	}
	mraw, err := json.Marshal(m)
	if err != nil {
		return archiveEntry{}, err
	}
	mhex, _, err := store.PutBlob(bytes.NewReader(mraw), "")
	if err != nil {
		return archiveEntry{}, err
	}
	desc := v1.Descriptor{
		MediaType: types.DockerManifestSchema2,
		Size:      int64(len(mraw)),
		Digest:    v1.Hash{Algorithm: "sha256", Hex: mhex},
	}
	if len(e.RepoTags) > 0 {
		desc.Annotations = map[string]string{refNameAnnotation: e.RepoTags[0]}
	}
	index, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{desc}})
	return archiveEntry{Index: index, Sections: tc.sections}, err
}

// isGzip tells whether an archive member starts like a gzip stream.
func (tc *tarContents) isGzip(archive string, store *cas.Store, hexDigest string) (bool, error) {
	var r io.ReadCloser
	if sec, ok := tc.sections[hexDigest]; ok {
		f, err := os.Open(archive)
		if err != nil {
			return false, err
		}
		r = &readCloser{Reader: io.NewSectionReader(f, sec.Off, sec.Size), close: f.Close}
	} else {
		f, err := os.Open(store.BlobPath(hexDigest))
		if err != nil {
			return false, err
		}
		r = f
	}
	defer r.Close()
	magic := make([]byte, 2)
	n, _ := io.ReadFull(r, magic)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b, nil
}

func (tc *tarContents) sizeOf(hexDigest string) int64 {
	for name, d := range tc.files {
		if d == hexDigest {
			return tc.sizes[name]
		}
	}
	return 0
}

// importOCIArchive indexes a tarred OCI layout and returns its index.json.
// Blob names are checked against their contents.
func importOCIArchive(ctx context.Context, p string, store *cas.Store, lim Limits) (archiveEntry, error) {
	tc, err := readTar(ctx, p, store, lim, func(n string) bool { return n == "index.json" || n == "manifest.json" })
	if err != nil {
		return archiveEntry{}, err
	}
	for name, d := range tc.files {
		if want, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && want != d {
			return archiveEntry{}, fmt.Errorf("blob %s digest mismatch: its content is sha256:%s", name, d)
		}
	}
	raw, ok := tc.keep["index.json"]
	if !ok {
		if _, docker := tc.keep["manifest.json"]; docker {
			return archiveEntry{}, &UsageError{Msg: p + " has no index.json but a manifest.json", Hint: "it is a docker save tarball: use docker-archive:" + p}
		}
		return archiveEntry{}, errors.New("no index.json: not an OCI archive")
	}
	return archiveEntry{Index: raw, Sections: tc.sections}, nil
}
