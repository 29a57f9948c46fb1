package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Minbase builds a one-layer image of what `debootstrap --variant=minbase`
// installs, from this machine's own Debian files: the packages that are
// Essential or of Priority required, every file their dpkg lists name, their
// dpkg control files, and a status database holding only them. The layer
// is staged in tmp and gzip-compressed, as a registry serves it.
func Minbase(tmp string) (v1.Image, error) {
	raw, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return nil, errors.New("not a Debian machine")
	}
	var status bytes.Buffer
	var pkgs []string
	for _, stanza := range strings.Split(string(raw), "\n\n") {
		if !(strings.Contains(stanza, "\nPriority: required\n") || strings.Contains(stanza, "\nEssential: yes\n")) ||
			!strings.Contains(stanza, "\nStatus: install ok installed\n") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(stanza, "Package: "), "\n")
		pkgs = append(pkgs, name)
		status.WriteString(strings.TrimSpace(stanza) + "\n\n")
	}
	layerTar := filepath.Join(tmp, "minbase.tar")
	f, err := os.Create(layerTar)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Mode: 0o644, Size: int64(status.Len()), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	tw.Write(status.Bytes())
	seen := map[string]bool{}
	add := func(p string) error {
		if seen[p] || p == "/var/lib/dpkg/status" {
			return nil
		}
		seen[p] = true
		_, err := addFile(tw, p)
		return err
	}
	for _, name := range pkgs {
		control, _ := filepath.Glob("/var/lib/dpkg/info/" + name + ".*")
		archControl, _ := filepath.Glob("/var/lib/dpkg/info/" + name + ":*.*")
		for _, p := range append(control, archControl...) {
			if err := add(p); err != nil {
				return nil, err
			}
			if !strings.HasSuffix(p, ".list") {
				continue
			}
			lf, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			sc := bufio.NewScanner(lf)
			for sc.Scan() {
				if err := add(sc.Text()); err != nil {
					lf.Close()
					return nil, err
				}
			}
			lf.Close()
		}
	}
	return oneLayer(tw, layerTar)
}

// addFile writes the regular file or symbolic link at p and returns the
// bytes of content written; anything else, a directory included, is left
// out.
func addFile(tw *tar.Writer, p string) (int64, error) {
	fi, err := os.Lstat(p)
	if err != nil || !(fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0) {
		return 0, nil
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		link, _ = os.Readlink(p)
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return 0, nil
	}
	hdr.Name = strings.TrimPrefix(p, "/")
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, nil
	}
	src, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return src.WriteTo(tw)
}

// oneLayer closes tw, which wrote the tar at layerTar, and returns an image
// of that one layer.
func oneLayer(tw *tar.Writer, layerTar string) (v1.Image, error) {
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(empty.Image, layer)
}
