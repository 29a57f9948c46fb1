package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
)

// binaryKind is the cache kind of binary analyses; it names their format.
const binaryKind = "caps-binary-2"

// maxExecutable bounds the executables read for capabilities.
const maxExecutable = 512 << 20

// binaryCapabilities reads the capabilities of the Go executables of an
// image or a directory that is not Go source, and merges them into one
// result: a module's capabilities are what its code does in any of them,
// and each executable's main module is "main". It also returns the paths
// of the executables read.
func (j *job) binaryCapabilities(ctx context.Context, art *pull.Artifact) (*capabilities.Result, []string, error) {
	merged := &capabilities.Result{}
	var paths []string
	add := func(name string, b []byte) error {
		res, err := j.analyzeCached(b)
		if errors.Is(err, capabilities.ErrNotGoBinary) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the capabilities of %s: %w", name, err)
		}
		paths = append(paths, name)
		merge(merged, res)
		return nil
	}
	switch {
	case art.Target.Kind.IsImage():
		img, err := art.Image(ctx)
		if err != nil {
			return nil, nil, err
		}
		rc := mutate.Extract(img)
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("reading the files of %s: %w", art.Reference, err)
			}
			if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 || h.Size < 4 || h.Size > maxExecutable {
				continue
			}
			b, err := readELF(tr, h.Size)
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s in %s: %w", h.Name, art.Reference, err)
			}
			if b != nil {
				if err := add("/"+filepath.Clean(h.Name), b); err != nil {
					return nil, nil, err
				}
			}
		}
	case art.Dir != "":
		err := filepath.WalkDir(art.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.Mode()&0o111 == 0 || info.Size() < 4 || info.Size() > maxExecutable {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			b, err := readELF(f, info.Size())
			if err != nil || b == nil {
				return nil
			}
			rel, _ := filepath.Rel(art.Dir, p)
			return add(rel, b)
		})
		if err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("%s: a capability declaration is held against Go source (dir: with a go.mod, gomod:) or Go executables (images, directories), not a %s target", art.Target.Input, art.Target.Kind)
	}
	for _, m := range merged.Modules {
		sort.Slice(m.Capabilities, func(i, j int) bool { return m.Capabilities[i].Capability < m.Capabilities[j].Capability })
	}
	sort.Slice(merged.Modules, func(i, j int) bool { return merged.Modules[i].Path < merged.Modules[j].Path })
	return merged, paths, nil
}

// readELF reads a file that starts like an ELF executable, and nothing
// of any other.
func readELF(r io.Reader, size int64) ([]byte, error) {
	return readELFHead(r, size, nil)
}

// readELFHead is readELF that also shows head, when it is not nil, the
// first headSize bytes (or fewer) of an ELF file before reading the rest.
func readELFHead(r io.Reader, size int64, head func([]byte)) ([]byte, error) {
	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, err
	}
	if string(magic) != "\x7fELF" {
		return nil, nil
	}
	b := make([]byte, size)
	copy(b, magic)
	first := min(size, headSize)
	if _, err := io.ReadFull(r, b[4:first]); err != nil {
		return nil, err
	}
	if head != nil {
		head(b[:first])
	}
	if _, err := io.ReadFull(r, b[first:]); err != nil {
		return nil, err
	}
	return b, nil
}

// headSize covers the ELF header, the program headers and, in a Go
// executable, the note that holds its build ID.
const headSize = 8 << 10

// goNote is the type (4) and name ("Go") of the ELF note that holds a Go
// executable's build ID.
var goNote = []byte("\x04\x00\x00\x00Go\x00\x00")

// looksLikeGo reports whether an ELF file's head holds the note of a Go
// build ID: a hint, not a proof (reach.ReadBinary decides).
func looksLikeGo(head []byte) bool { return bytes.Contains(head, goNote) }

// executable analyses one executable file.
func (j *job) executable(path string, size int64) (*capabilities.Result, error) {
	if size > maxExecutable {
		return nil, fmt.Errorf("larger than %d MiB: not read", maxExecutable>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readELF(f, size)
	switch {
	case err != nil:
		return nil, err
	case b == nil:
		return nil, capabilities.ErrNotGoBinary
	}
	return j.analyzeCached(b)
}

// analyzeCached analyses an executable, or reads the analysis of the same
// bytes from the cache.
func (j *job) analyzeCached(b []byte) (*capabilities.Result, error) {
	sum := sha256.Sum256(b)
	return cas.Memo(j.Cache, binaryKind, hex.EncodeToString(sum[:]), func() (*capabilities.Result, error) {
		return capabilities.AnalyzeBinary(bytes.NewReader(b))
	})
}

// merge adds an executable's modules to the merged result.
func merge(into, res *capabilities.Result) {
	if into.Main == "" {
		into.Main, into.GOOS, into.GOARCH = res.Main, res.GOOS, res.GOARCH
	}
	for _, m := range res.Modules {
		have := into.Module(m.Path)
		if have == nil {
			c := *m
			c.Capabilities = append([]capabilities.Found(nil), m.Capabilities...)
			into.Modules = append(into.Modules, &c)
			continue
		}
		have.Main = have.Main || m.Main
		for _, f := range m.Capabilities {
			if have.Capability(f.Capability) == nil {
				have.Capabilities = append(have.Capabilities, f)
			}
		}
	}
}
