package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// Reachability says what the gate makes of how far a program reaches its
// Go vulnerabilities.
type Reachability string

// The reachability settings.
const (
	// ReachGate, the default: findings the program does not reach
	// (imported, required, other_platform) are reported and pass.
	ReachGate Reachability = "gate"
	// ReachReport grades findings but gates on every one.
	ReachReport Reachability = "report"
	// ReachOff does not grade them.
	ReachOff Reachability = "off"
)

// ParseReachability reads a reachability setting; "" is the default.
func ParseReachability(s string) (Reachability, error) {
	switch r := Reachability(s); r {
	case "":
		return ReachGate, nil
	case ReachGate, ReachReport, ReachOff:
		return r, nil
	}
	return "", fmt.Errorf("reachability %q: use gate, report or off", s)
}

// reachKind is the cache kind of what reachability reads of an
// executable, by the layer and path it was found at.
const reachKind = "reach-binary-1"

// grade grades the Go findings found in executables: their levels, by
// index ("" for a finding not graded: not Go, or found in source).
func (j *job) grade(ctx context.Context, art *pull.Artifact, findings []vuln.Finding) []reach.Level {
	if j.Policy.Reachability == ReachOff {
		return nil
	}
	levels := make([]reach.Level, len(findings))
	bins := map[string]*reach.Binary{}
	read := map[string]bool{}
	for i, f := range findings {
		if vuln.BaseEcosystem(f.Package.Ecosystem) != "Go" {
			continue
		}
		for _, loc := range f.Package.Locations {
			if !read[loc] {
				read[loc] = true
				bins[loc] = j.reachBinary(ctx, art, loc)
			}
			b, ok := bins[loc]
			if !ok || b == nil {
				continue
			}
			for _, rec := range f.Records {
				levels[i] = higher(levels[i], b.Level(rec, f.Package.Name))
			}
		}
	}
	return levels
}

// rank orders levels by how far they are reached.
var rank = map[reach.Level]int{reach.OtherPlatform: 1, reach.Required: 2, reach.Imported: 3, reach.Unknown: 4, reach.Called: 5}

func higher(a, b reach.Level) reach.Level {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// reachBinary reads the Go executable at a package's location: a path in
// an image's layer ("sha256:…:/usr/bin/app") or under a directory. nil when
// the location is not an executable (a go.mod); an executable that cannot
// be read is graded unknown.
func (j *job) reachBinary(ctx context.Context, art *pull.Artifact, loc string) *reach.Binary {
	var open func() ([]byte, error)
	switch {
	case art.Target.Kind.IsImage():
		layer, p, ok := strings.Cut(strings.TrimPrefix(loc, "sha256:"), ":")
		if !ok {
			return nil
		}
		layer = "sha256:" + layer
		open = func() ([]byte, error) { return fileInLayer(ctx, art, layer, p) }
		loc = layer + ":" + p
	case art.Dir != "":
		p := filepath.Join(art.Dir, filepath.FromSlash(loc))
		open = func() ([]byte, error) {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil || fi.Size() > maxExecutable {
				return nil, errSkip
			}
			return readELF(f, fi.Size())
		}
		// A directory's files change: the content names the entry.
		loc = ""
	default:
		return nil
	}
	unknown := &reach.Binary{}
	read := func() (*reach.Binary, error) {
		b, err := open()
		if err != nil || b == nil {
			return nil, errSkip
		}
		bin, err := reach.ReadBinary(bytes.NewReader(b))
		if err != nil {
			if j.Logger != nil {
				j.Logger.Debug("reachability: an executable that cannot be read", "location", loc, "error", err)
			}
			return unknown, nil
		}
		return bin, nil
	}
	key := ""
	if loc != "" && art.Digest.Hex != "" {
		key = art.Digest.String() + "|" + loc
	}
	b, err := cas.Memo(j.Cache, reachKind, key, read)
	if err != nil {
		return nil
	}
	return b
}

// errSkip marks a location that holds no executable.
var errSkip = errors.New("not an executable")

// fileInLayer reads an ELF file from one layer of an image, by the layer's
// diff ID (or digest).
func fileInLayer(ctx context.Context, art *pull.Artifact, layer, name string) ([]byte, error) {
	img, err := art.Image(ctx)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(layer)
	if err != nil {
		return nil, err
	}
	l, err := img.LayerByDiffID(h)
	if err != nil {
		if l, err = img.LayerByDigest(h); err != nil {
			return nil, err
		}
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	want := strings.TrimPrefix(path.Clean("/"+name), "/")
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errSkip
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || strings.TrimPrefix(path.Clean("/"+h.Name), "/") != want {
			continue
		}
		if h.Size > maxExecutable {
			return nil, errSkip
		}
		return readELF(tr, h.Size)
	}
}
