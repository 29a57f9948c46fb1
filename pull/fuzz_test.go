package pull

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/customs-dev/customs/internal/cas"
)

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"alpine:3.19", "127.0.0.1:5000/app@sha256:" + string(bytes.Repeat([]byte("a"), 64)), "oci:dir:tag", "docker-archive:x.tar", "gomod:example.com/m@v1.0.0", "nosuch:/x", "dir:.", "sbom:x.json", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tgt, err := ParseTarget(s)
		if err == nil && tgt.Input != s {
			t.Errorf("ParseTarget(%q).Input = %q", s, tgt.Input)
		}
	})
}

func tarOf(files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// FuzzArchive feeds arbitrary archives to both importers: they must
// return an error or an index, never panic, and never write outside the
// cache.
func FuzzArchive(f *testing.F) {
	f.Add(tarOf(map[string]string{"manifest.json": `[{"Config":"c.json","Layers":["l/layer.tar"]}]`, "c.json": `{"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}`, "l/layer.tar": "x"}))
	f.Add(tarOf(map[string]string{"index.json": `{"schemaVersion":2,"manifests":[]}`, "oci-layout": `{"imageLayoutVersion":"1.0.0"}`}))
	f.Add(tarOf(map[string]string{"../../etc/passwd": "x", "manifest.json": "[]"}))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		timer := time.AfterFunc(5*time.Second, func() { panic("importing an archive took more than 5s") })
		defer timer.Stop()
		dir, err := os.MkdirTemp("", "fuzz-archive-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "in.tar")
		os.WriteFile(p, b, 0o644)
		store, _ := cas.Open(filepath.Join(dir, "cache"))
		importDockerArchive(context.Background(), p, store, Limits{})
		importOCIArchive(context.Background(), p, store, Limits{})
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "in.tar" && e.Name() != "cache" {
				t.Errorf("importer wrote %s outside the cache", e.Name())
			}
		}
	})
}

// FuzzSelectImage feeds arbitrary manifests and indexes to platform
// selection.
func FuzzSelectImage(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + string(bytes.Repeat([]byte("a"), 64)) + `","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":1},"layers":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fetch := func(h v1.Hash) ([]byte, error) { return b, nil }
		depth := 0
		limited := func(h v1.Hash) ([]byte, error) {
			depth++
			if depth > 100 {
				t.Fatalf("selectImage recursed more than 100 times")
			}
			return fetch(h)
		}
		for _, explicit := range []bool{false, true} {
			depth = 0
			selectImage(v1.Hash{Algorithm: "sha256", Hex: "00"}, b, types.OCIImageIndex, fetchers{manifest: limited, config: limited}, v1.Platform{OS: "linux", Architecture: "amd64"}, explicit)
		}
	})
}

// FuzzLayerStream decompresses arbitrary layer blobs (gzip, zstd or plain
// tar, as the magic bytes say) through the limits: no panic, and never
// more out than the expansion limit allows.
func FuzzLayerStream(f *testing.F) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "a", Size: 3, Mode: 0o644})
	tw.Write([]byte("abc"))
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball.Bytes())
	zw.Close()
	f.Add(tarball.Bytes())
	f.Add(gz.Bytes())
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		digest := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(blob))}
		lim := Limits{MaxExpansion: 10, MaxFiles: 100, MaxFileSize: 1 << 20}.orDefaults()
		l := &blobLayer{desc: v1.Descriptor{Digest: digest, Size: int64(len(blob))}, diffID: digest, limits: lim, files: new(atomic.Int64),
			open: func(v1.Hash) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil }}
		rc, err := l.Uncompressed()
		if err != nil {
			return
		}
		defer rc.Close()
		n, _ := io.Copy(io.Discard, rc)
		if budget := lim.MaxExpansion*int64(len(blob)) + 1<<20; n > budget && n > int64(len(blob)) {
			t.Fatalf("%d bytes out of a %d-byte blob, over the budget %d", n, len(blob), budget)
		}
	})
}
