package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anchore/syft/syft"
	syftfile "github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/directorysource"

	"github.com/customs-dev/customs/pull"
)

func tarOf(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipDisguises writes gzip files that hold archives under every name and
// shape that syft opens, each with a jar of its own artifact, beside
// gzipped text that holds none.
func gzipDisguises(t *testing.T, dir string) (archives, text []string) {
	jar := func(level int) []byte { return nestedJar(t, level, level) } // artifact a<level>
	longName := strings.Repeat("d", 120) + "/lib.jar"                   // a GNU long-name header first
	files := map[string][]byte{
		"usr/share/app/plain.tar.gz":    gzipped(tarOf(t, map[string][]byte{"lib.jar": jar(1)})),
		"usr/share/app/named-plain.gz":  gzipped(tarOf(t, map[string][]byte{"lib.jar": jar(2)})),
		"usr/share/app/longname.gz":     gzipped(tarOf(t, map[string][]byte{longName: jar(3)})),
		"usr/share/app/lib.jar.gz":      gzipped(jar(4)),
		"usr/share/app/appended.gz":     append(gzipped([]byte("text\n")), jar(5)...),
		"usr/share/man/man1/ls.1.gz":    gzipped([]byte(".TH LS 1\n.SH NAME\nls \\- list directory contents\n")),
		"usr/share/doc/x/changelog.gz":  gzipped(bytes.Repeat([]byte("x (1.0-1) unstable; urgency=low\n"), 100)),
		"usr/share/doc/x/empty.gz":      gzipped(nil),
		"usr/share/doc/x/corrupt.gz":    gzipped([]byte("a corrupt stream"))[:12],
		"usr/share/doc/x/binarydata.gz": gzipped([]byte{0, 1, 2, 3, 0, 0, 0}),
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What syft would open and find no archive in: text, nothing, other
	// bytes, and a stream cut short after its header.
	// syft names the jars of the gzip of a jar and of the appended zip
	// "lib" after their file: only the tarred ones keep their artifact.
	return []string{"a1", "a2", "a3"},
		[]string{"usr/share/man/man1/ls.1.gz", "usr/share/doc/x/changelog.gz", "usr/share/doc/x/empty.gz",
			"usr/share/doc/x/binarydata.gz", "usr/share/doc/x/corrupt.gz"}
}

// TestBareGzipLeftOut: the matching resolver hides only the gzipped text
// from syft's archive search, and the matching SBOM finds every package
// that the full one finds inside gzip files.
func TestBareGzipLeftOut(t *testing.T) {
	dir := t.TempDir()
	archives, bare := gzipDisguises(t, dir)
	src, err := directorysource.New(directorysource.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{"application/gzip", "application/x-gzip"}
	all, _ := res.FilesByMIMEType(types...)
	kept, err := archiveSearch{res}.FilesByMIMEType(types...)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for _, l := range all {
		if !slices.ContainsFunc(kept, func(k syftfile.Location) bool { return k.RealPath == l.RealPath }) {
			dropped = append(dropped, strings.TrimPrefix(l.RealPath, "/"))
		}
	}
	slices.Sort(dropped)
	slices.Sort(bare)
	if !slices.Equal(dropped, bare) {
		t.Errorf("left out %v, want %v (of %d gzip files)", dropped, bare, len(all))
	}

	ctx := context.Background()
	a, err := pull.Fetch(ctx, pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	names := func(forMatching bool) []string {
		s, err := Generate(ctx, a, Options{ForMatching: forMatching})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for p := range s.Artifacts.Packages.Enumerate() {
			out = append(out, p.Name+"@"+p.Version)
		}
		slices.Sort(out)
		return out
	}
	full, matching := names(false), names(true)
	if !slices.Equal(full, matching) {
		t.Errorf("matching SBOM %v, full SBOM %v", matching, full)
	}
	// syft itself, with customs' configuration and no gzip left out.
	s, err := syft.CreateSBOM(ctx, src, config(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	var plain []string
	for p := range s.Artifacts.Packages.Enumerate() {
		plain = append(plain, p.Name+"@"+p.Version)
	}
	slices.Sort(plain)
	if !slices.Equal(full, plain) {
		t.Errorf("customs' SBOM %v, syft's %v", full, plain)
	}
	for _, want := range archives {
		if !slices.ContainsFunc(full, func(p string) bool { return strings.HasPrefix(p, want+"@") }) {
			t.Errorf("%s, inside a gzip file, not found: %v", want, full)
		}
	}
	t.Logf("packages in both: %v", full)
}
