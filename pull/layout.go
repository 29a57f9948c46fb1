package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const refNameAnnotation = "org.opencontainers.image.ref.name"

// layoutImage resolves oci:DIR[:tag]. Blobs are read in place and checked
// against their digests as they are read, so that a tampered layout is
// caught.
func layoutImage(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	dir := t.Ref
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &UsageError{Msg: fmt.Sprintf("%s is not an OCI image layout: no index.json", dir), Hint: "for a docker save tarball use docker-archive:, for a tarred layout oci-archive:"}
		}
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	open := func(h v1.Hash) (io.ReadCloser, error) {
		if h.Algorithm != "sha256" || !isHex(h.Hex) {
			return nil, fmt.Errorf("unsupported digest %s", h)
		}
		return os.Open(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	}
	return indexedImage(ctx, t, raw, open, opts)
}

// indexedImage resolves an image from an OCI layout's index.json whose
// blobs open will read.
func indexedImage(ctx context.Context, t Target, indexJSON []byte, open func(v1.Hash) (io.ReadCloser, error), opts Options) (*Artifact, error) {
	var index v1.IndexManifest
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		return nil, fmt.Errorf("parsing index.json of %s: %w", t, err)
	}
	if t.Tag != "" {
		var keep []v1.Descriptor
		for _, d := range index.Manifests {
			n := d.Annotations[refNameAnnotation]
			if n == t.Tag || strings.HasSuffix(n, ":"+t.Tag) {
				keep = append(keep, d)
			}
		}
		if len(keep) == 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("no image tagged %q in %s", t.Tag, t.Ref), Hint: "list the tags in index.json (annotation " + refNameAnnotation + ")"}
		}
		index.Manifests = keep
	}
	if len(index.Manifests) == 0 {
		return nil, fmt.Errorf("%s: index.json lists no manifests: %w", t, ErrNotImage)
	}
	fetch := func(h v1.Hash) ([]byte, error) {
		rc, err := open(h)
		if err != nil {
			return nil, fmt.Errorf("blob %s of %s: %w", h, t.Ref, err)
		}
		defer rc.Close()
		b, err := readVerified(rc, h, opts.Limits)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Ref, err)
		}
		return b, nil
	}
	rootRaw, _ := json.Marshal(index)
	root, _, _ := v1.SHA256(bytes.NewReader(rootRaw))
	sel, err := selectImage(root, rootRaw, types.OCIImageIndex, fetchers{manifest: fetch, config: fetch}, opts.platform(), opts.Platform != nil)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", t, err)
	}
	a := &Artifact{
		Target:    t,
		Digest:    sel.manifest,
		Platform:  sel.platform,
		Reference: t.Input + "@" + sel.manifest.String(),
	}
	// index.json of a single image is no index the image was published in
	// (docker-archive: synthesizes one).
	if len(index.Manifests) > 1 || sel.platform != nil && !sel.fromConfig {
		a.IndexDigest = root
	}
	a.image = func(ctx context.Context) (v1.Image, error) {
		raw, err := fetch(sel.manifest)
		if err != nil {
			return nil, err
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parsing manifest %s: %w", sel.manifest, err)
		}
		cfg, err := fetch(m.Config.Digest)
		if err != nil {
			return nil, err
		}
		return newImage(raw, cfg, open, opts.Limits)
	}
	return a, nil
}

func isHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
