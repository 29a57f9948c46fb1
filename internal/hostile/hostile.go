// Package hostile writes the hostile-image corpus: OCI image layouts that
// try what a malicious image does to a scanner (escape the extraction
// root, exhaust memory or disk, lie about digests, break parsers). Each
// case says what customs must make of it.
package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Case is one hostile image.
type Case struct {
	Name string
	// Target is the scan target (oci:DIR).
	Target string
	// Reject is set when customs must refuse the image (exit 2) with a
	// message containing Want; otherwise it must scan it (exit 0 or 1)
	// and Want, if set, appears in its output.
	Reject bool
	Want   string
	// Outside are paths the image tries to create outside any extraction
	// root; none may exist after the scan.
	Outside []string
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func file(name string, body string) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, []byte(body)}
}

func link(name, target string, typ byte) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: typ, Linkname: target, Mode: 0o777}}
}

// layerTar is an uncompressed layer.
func layerTar(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing %s: %v", h.Name, err)
		}
		if len(e.body) > 0 {
			tw.Write(e.body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// layout writes an OCI image layout by hand, so that a case can lie
// where a library would not: config bytes, layers (gzip blobs with their
// uncompressed digests), and edits to make before writing.
type layout struct {
	config  []byte
	layers  [][2][]byte // compressed, uncompressed
	corrupt func(blobs map[string][]byte, manifest map[string]any)
}

func (l layout) write(t testing.TB, dir string) string {
	blobs := map[string][]byte{}
	var descs []map[string]any
	var diffIDs []string
	for _, ly := range l.layers {
		d := digest(ly[0])
		blobs[d] = ly[0]
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(ly[0])})
		diffIDs = append(diffIDs, digest(ly[1]))
	}
	cfg := l.config
	if cfg == nil {
		cfg, _ = json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}, "config": map[string]any{}})
	}
	manifest := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
		"layers": descs,
	}
	blobs[digest(cfg)] = cfg
	if l.corrupt != nil {
		l.corrupt(blobs, manifest)
	}
	mb, _ := json.Marshal(manifest)
	blobs[digest(mb)] = mb
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(mb), "size": len(mb),
		"platform": map[string]any{"architecture": "amd64", "os": "linux"}}}})
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	for d, b := range blobs {
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
	return "oci:" + dir
}

func layers(t testing.TB, tars ...[]byte) [][2][]byte {
	var out [][2][]byte
	for _, b := range tars {
		out = append(out, [2][]byte{gz(t, b), b})
	}
	return out
}

// Corpus writes every case under dir. outside is a directory the cases
// aim at (traversal, absolute paths, links): nothing may appear in it.
func Corpus(t testing.TB, dir, outside string) []Case {
	t.Helper()
	os.MkdirAll(outside, 0o755)
	rel := func(to string) string {
		// Enough ../ to reach the root from any extraction directory.
		return strings.Repeat("../", 40) + strings.TrimPrefix(to, "/")
	}
	osRelease := file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
	var cases []Case
	add := func(c Case, l layout) {
		c.Target = l.write(t, filepath.Join(dir, strings.ReplaceAll(c.Name, " ", "-")))
		cases = append(cases, c)
	}
	traversal := filepath.Join(outside, "traversal")
	add(Case{Name: "path traversal", Outside: []string{traversal}},
		layout{layers: layers(t, layerTar(t, osRelease, file(rel(traversal), "pwned")))})
	absolute := filepath.Join(outside, "absolute")
	add(Case{Name: "absolute path", Outside: []string{absolute}},
		layout{layers: layers(t, layerTar(t, osRelease, file(absolute, "pwned")))})
	// A link to outside, then a file written through it in the next layer.
	through := filepath.Join(outside, "through-symlink")
	add(Case{Name: "symlink out of the root", Outside: []string{through}},
		layout{layers: layers(t,
			layerTar(t, osRelease, link("escape", outside, tar.TypeSymlink), link("escape-rel", rel(outside), tar.TypeSymlink)),
			layerTar(t, file("escape/through-symlink", "pwned"), file("escape-rel/through-symlink", "pwned")))})
	add(Case{Name: "hard link out of the root"},
		layout{layers: layers(t, layerTar(t, osRelease, link("passwd", "/etc/passwd", tar.TypeLink), link("shadow", rel("/etc/shadow"), tar.TypeLink)))})
	add(Case{Name: "symlink loop"},
		layout{layers: layers(t, layerTar(t, osRelease, link("a", "b", tar.TypeSymlink), link("b", "a", tar.TypeSymlink), link("self", "self", tar.TypeSymlink),
			link("usr/lib/os-release", "../../usr/lib/os-release", tar.TypeSymlink)))})
	// 1 GiB of zeros in about 1 MiB.
	var bomb bytes.Buffer
	tw := tar.NewWriter(&bomb)
	const bombSize = 1 << 30
	tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: bombSize})
	zeros := make([]byte, 1<<20)
	var bombGz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bombGz, gzip.DefaultCompression)
	h := sha256.New()
	hdr := bomb.Bytes()
	zw.Write(hdr)
	h.Write(hdr)
	for i := 0; i < bombSize/len(zeros); i++ {
		zw.Write(zeros)
		h.Write(zeros)
	}
	// The end of the archive: two zero blocks.
	end := make([]byte, 1024)
	zw.Write(end)
	h.Write(end)
	zw.Close()
	bombLayer := bombGz.Bytes()
	add(Case{Name: "gzip bomb", Reject: true, Want: "--max-expansion"},
		layout{layers: [][2][]byte{{bombLayer, nil}}, config: mustJSON(map[string]any{"architecture": "amd64", "os": "linux",
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(h.Sum(nil))}}})})
	add(Case{Name: "layer digest mismatch", Reject: true, Want: "digest"},
		layout{layers: layers(t, layerTar(t, osRelease)), corrupt: func(blobs map[string][]byte, m map[string]any) {
			for d, b := range blobs {
				if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
					blobs[d] = gz(t, layerTar(t, osRelease, file("bin/evil", "swapped")))
				}
			}
		}})
	add(Case{Name: "missing blob", Reject: true, Want: "missing"},
		layout{layers: layers(t, layerTar(t, osRelease)), corrupt: func(blobs map[string][]byte, m map[string]any) {
			for d, b := range blobs {
				if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
					delete(blobs, d)
				}
			}
		}})
	var many []([]byte)
	for i := 0; i < 1000; i++ {
		many = append(many, layerTar(t, file(fmt.Sprintf("layer/%d", i), "x")))
	}
	many[0] = layerTar(t, osRelease)
	add(Case{Name: "1000 layers", Reject: true, Want: "--max-layers"}, layout{layers: layers(t, many...)})
	add(Case{Name: "config not JSON", Reject: true, Want: "config"},
		layout{layers: layers(t, layerTar(t, osRelease)), config: []byte("this is not JSON {")})
	whiteout := filepath.Join(outside, "whiteout-victim")
	os.WriteFile(whiteout, []byte("must survive"), 0o644)
	add(Case{Name: "whiteout outside the root"},
		layout{layers: layers(t, layerTar(t, osRelease, file("etc/keep", "x")),
			layerTar(t, file(rel(filepath.Join(outside, ".wh.whiteout-victim")), ""), file("../.wh.etc", ""), file(".wh..wh..opq", ""), file(rel("/.wh.etc"), "")))})
	add(Case{Name: "device files"},
		layout{layers: layers(t, layerTar(t, osRelease,
			entry{hdr: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o660}},
			entry{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}},
			entry{hdr: tar.Header{Name: "dev/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}}))})
	long := strings.Repeat("d/", 2000) + strings.Repeat("n", 300)
	add(Case{Name: "very long names"},
		layout{layers: layers(t, layerTar(t, osRelease, file(long, "x"), file(strings.Repeat("x", 5000), "y")))})
	return cases
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
