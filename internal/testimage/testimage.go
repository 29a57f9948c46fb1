// Package testimage assembles container images for tests from real
// content: a Go binary built from testdata/goapp and a Debian dpkg status
// database, in every on-disk form customs reads.
package testimage

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Root is the repository root, found from this file.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// GoBinary builds testdata/goapp for linux/goarch. The build downloads its
// old, real dependencies through GOPROXY the first time.
func GoBinary(t testing.TB, goarch string) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("skipping: no go command to build the test binary")
	}
	out := filepath.Join(t.TempDir(), "goapp")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join(Root(), "testdata", "goapp")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/goapp: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Packages are the dpkg packages of DpkgStatus, by name, for assertions.
var Packages = map[string]string{
	"base-files": "12.4+deb12u5",
	"libc6":      "2.36-9+deb12u4",
	"zlib1g":     "1:1.2.13.dfsg-1",
	"openssl":    "3.0.11-1~deb12u2",
}

// DpkgStatus is a dpkg status database of real Debian 12 packages.
func DpkgStatus(arch string) []byte {
	var b strings.Builder
	for _, p := range []struct{ name, section, desc string }{
		{"base-files", "admin", "Debian base system miscellaneous files"},
		{"libc6", "libs", "GNU C Library: Shared libraries"},
		{"openssl", "utils", "Secure Sockets Layer toolkit - cryptographic utility"},
		{"zlib1g", "libs", "compression library - runtime"},
	} {
		b.WriteString("Package: " + p.name + "\nStatus: install ok installed\nPriority: required\nSection: " + p.section +
			"\nInstalled-Size: 100\nMaintainer: Debian Maintainers <debian-devel@lists.debian.org>\nArchitecture: " + arch +
			"\nVersion: " + Packages[p.name] + "\nDescription: " + p.desc + "\n\n")
	}
	return []byte(b.String())
}

const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

// Image builds a two-layer image for linux/arch: the Debian base (os-release
// and dpkg status) and, when bin is not nil, /usr/local/bin/goapp.
func Image(t testing.TB, arch string, bin []byte) v1.Image {
	t.Helper()
	base, err := crane.Layer(map[string][]byte{
		"etc/os-release":      []byte(osRelease),
		"var/lib/dpkg/status": DpkgStatus(arch),
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, base)
	if err != nil {
		t.Fatal(err)
	}
	if bin != nil {
		// Executable, as a real image's is: osv-scanner skips a binary
		// that is not.
		app := Layer(t, File{Name: "usr/local/bin/goapp", Body: string(bin), Mode: 0o755})
		if img, err = mutate.AppendLayers(img, app); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = []string{"/usr/local/bin/goapp"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// Index builds a multi-platform index of the given images.
func Index(t testing.TB, imgs map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64", "arm", "s390x"} {
		img, ok := imgs[arch]
		if !ok {
			continue
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
}

// WriteDockerArchive writes img as `docker save` would, gzip-compressed
// when gz is set.
func WriteDockerArchive(t testing.TB, img v1.Image, path string, gz bool) {
	t.Helper()
	tag, _ := name.NewTag("example.com/goapp:1.0")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if gz {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	if err := tarball.Write(tag, img, w); err != nil {
		t.Fatal(err)
	}
}

// WriteLayout writes an image or index into a new OCI layout at dir,
// tagged tag.
func WriteLayout(t testing.TB, dir string, img v1.Image, idx v1.ImageIndex, tag string) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	ann := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})
	if img != nil {
		err = p.AppendImage(img, ann)
	} else {
		err = p.AppendIndex(idx, ann)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TarDir tars a directory (an OCI layout) into path.
func TarDir(t testing.TB, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	defer tw.Close()
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Executables is a one-layer linux/amd64 image whose files (path →
// content) are executables, mode 0755, as programs in real images are.
func Executables(t testing.TB, files map[string][]byte) v1.Image {
	t.Helper()
	var buf strings.Builder
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(buf.String())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// CriticalDB returns a new database directory holding the records of
// testdata/osv-demo and testdata/osv-critical: an image of GoBinary has a
// critical finding in it.
func CriticalDB(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, src := range []string{"osv-demo", "osv-critical"} {
		files, err := filepath.Glob(filepath.Join(Root(), "testdata", src, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no records in testdata/%s: %v", src, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}
