// Package images assembles benchmark images from this machine's own
// Debian files, so that benchmarks need no registry and no download.
package images

import (
	"archive/tar"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Debian builds a one-layer image of about size bytes: the dpkg database
// and os-release whole, then binaries, libraries and shared files until the
// size is reached. The layer is staged in tmp.
func Debian(tmp string, size int64) (v1.Image, error) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		return nil, errors.New("not a Debian machine")
	}
	layerTar := filepath.Join(tmp, "layer.tar")
	f, err := os.Create(layerTar)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	var total int64
	add := func(p string) error {
		n, err := addFile(tw, p)
		total += n
		return err
	}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release", "/var/lib/dpkg/status"} {
		if err := add(p); err != nil {
			return nil, err
		}
	}
	for _, root := range []string{"/var/lib/dpkg/info", "/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/share"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if total >= size {
				return filepath.SkipAll
			}
			if !d.IsDir() {
				return add(p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return oneLayer(tw, layerTar)
}
