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
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/capabilities"
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
const reachKind = "reach-binary-3"

// graded are the findings' levels and, for Go source, the call path to
// each called one, by index ("" and nil for a finding not graded: not Go,
// or where nothing can be read).
type graded struct {
	levels []reach.Level
	paths  [][]capabilities.Frame
	// warning says what could not be graded, and why.
	warning string
}

// grade grades the Go findings found in executables and in Go source.
func (j *job) grade(ctx context.Context, art *pull.Artifact, findings []vuln.Finding, revision string) graded {
	if j.Policy.Reachability == ReachOff {
		return graded{}
	}
	// An image's levels against one revision of the data are kept whole:
	// a warm scan reads them rather than every executable's functions.
	key := ""
	if art.Target.Kind.IsImage() && revision != "" {
		key = art.Digest.String() + "|" + revision
	}
	id := func(f vuln.Finding) string {
		return f.ID + "\x00" + f.Package.Name + "\x00" + f.Package.Version + "\x00" + strings.Join(f.Package.Locations, "\x00")
	}
	if stored, ok := cas.Lookup[map[string]reach.Level](j.Cache, reachLevelsKind, key); ok {
		levels := make([]reach.Level, len(findings))
		complete := true
		for i, f := range findings {
			l, ok := stored[id(f)]
			complete = complete && ok
			levels[i] = l
		}
		if complete {
			return graded{levels: levels}
		}
	}
	g := j.gradeAll(ctx, art, findings)
	if key != "" && g.warning == "" {
		stored := make(map[string]reach.Level, len(findings))
		for i, f := range findings {
			stored[id(f)] = g.levels[i]
		}
		cas.Keep(j.Cache, reachLevelsKind, key, stored)
	}
	return g
}

// reachLevelsKind is the cache kind of an image's levels.
const reachLevelsKind = "reach-levels-1"

func (j *job) gradeAll(ctx context.Context, art *pull.Artifact, findings []vuln.Finding) graded {
	levels := make([]reach.Level, len(findings))
	paths := make([][]capabilities.Frame, len(findings))
	source := &sourceGrader{j: j, art: art}
	start := time.Now()
	defer func() {
		if j.Logger != nil {
			j.Logger.Debug("graded findings by reachability", "findings", len(findings), "took", time.Since(start))
		}
	}()
	bins := map[string]*reach.Binary{}
	read := map[string]bool{}
	if art.Target.Kind.IsImage() {
		j.readLayers(ctx, art, findings, bins, read)
	}
	for i, f := range findings {
		if vuln.BaseEcosystem(f.Package.Ecosystem) != "Go" {
			continue
		}
		if source.covers(f.Package.Locations) {
			src := source.source(ctx)
			if source.none {
				continue
			}
			for _, rec := range f.Records {
				l := src.Level(rec, f.Package.Name)
				levels[i] = higher(levels[i], l)
				if l == reach.Called && paths[i] == nil {
					paths[i] = src.Path(rec, f.Package.Name)
				}
			}
			continue
		}
		for _, loc := range f.Package.Locations {
			if !read[loc] {
				read[loc] = true
				if b, ok := j.dirBins[loc]; ok {
					bins[loc] = b
				} else {
					bins[loc] = j.reachBinary(art, loc)
				}
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
	return graded{levels: levels, paths: paths, warning: source.warning}
}

// rank orders levels by how far they are reached.
var rank = map[reach.Level]int{reach.OtherPlatform: 1, reach.Required: 2, reach.Imported: 3, reach.Unknown: 4, reach.Called: 5}

func higher(a, b reach.Level) reach.Level {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// readLayers reads the executables the Go findings of an image were found
// in ("sha256:LAYER:/usr/bin/app"): from the cache, else in one pass over
// each layer that holds some. It marks the locations it settled in read.
func (j *job) readLayers(ctx context.Context, art *pull.Artifact, findings []vuln.Finding, bins map[string]*reach.Binary, read map[string]bool) {
	want := map[string]map[string]string{} // layer, path in it: location
	key := func(loc string) string { return art.Digest.String() + "|" + loc }
	for _, f := range findings {
		if vuln.BaseEcosystem(f.Package.Ecosystem) != "Go" {
			continue
		}
		for _, loc := range f.Package.Locations {
			if read[loc] {
				continue
			}
			read[loc] = true
			layer, p, ok := strings.Cut(strings.TrimPrefix(loc, "sha256:"), ":")
			if !ok {
				continue
			}
			if b, ok := cas.Lookup[*reach.Binary](j.Cache, reachKind, key(loc)); ok {
				bins[loc] = b
				continue
			}
			// Read alongside the SBOM: a Go executable syft found that
			// could not be read is graded unknown.
			if j.exec != nil {
				if b, known := j.exec.lookup(loc); b != nil || known {
					if b == nil {
						b = &reach.Binary{}
					}
					bins[loc] = b
					cas.Keep(j.Cache, reachKind, key(loc), b)
					continue
				}
			}
			layer = "sha256:" + layer
			if want[layer] == nil {
				want[layer] = map[string]string{}
			}
			want[layer][strings.TrimPrefix(path.Clean("/"+p), "/")] = loc
		}
	}
	for layer, files := range want {
		if j.Logger != nil {
			j.Logger.Debug("reachability: reading executables from a layer again", "layer", layer, "files", len(files))
		}
		got, err := j.filesInLayer(ctx, art, layer, files)
		if err != nil && j.Logger != nil {
			j.Logger.Debug("reachability: a layer that cannot be read", "layer", layer, "error", err)
		}
		for loc, b := range got {
			bin := j.parse(loc, b)
			bins[loc] = bin
			cas.Keep(j.Cache, reachKind, key(loc), bin)
		}
	}
}

// parse reads an executable's functions; one that cannot be read is
// graded unknown.
func (j *job) parse(loc string, b []byte) *reach.Binary {
	bin, err := reach.ReadBinary(bytes.NewReader(b))
	if err != nil {
		if j.Logger != nil {
			j.Logger.Debug("reachability: an executable that cannot be read", "location", loc, "error", err)
		}
		return &reach.Binary{}
	}
	return bin
}

// prefetch starts reading the executables a directory's Go packages were
// found in, and returns a function that waits for them.
func (j *job) prefetch(art *pull.Artifact, pkgs []vuln.Package) func() map[string]*reach.Binary {
	if j.Policy.Reachability == ReachOff || art.Dir == "" || art.Target.Kind.IsImage() {
		return func() map[string]*reach.Binary { return nil }
	}
	var locs []string
	seen := map[string]bool{}
	for _, p := range pkgs {
		if vuln.BaseEcosystem(p.Ecosystem) != "Go" {
			continue
		}
		for _, l := range p.Locations {
			if !seen[l] {
				seen[l] = true
				locs = append(locs, l)
			}
		}
	}
	done := make(chan map[string]*reach.Binary, 1)
	go func() {
		out := map[string]*reach.Binary{}
		for _, l := range locs {
			out[l] = j.reachBinary(art, l)
		}
		done <- out
	}()
	return func() map[string]*reach.Binary { return <-done }
}

// reachBinary reads the Go executable at a location under a directory;
// nil when the location is not an executable (a go.mod).
func (j *job) reachBinary(art *pull.Artifact, loc string) *reach.Binary {
	if art.Dir == "" {
		return nil
	}
	p := filepath.Join(art.Dir, filepath.FromSlash(loc))
	// A directory's files change: their path, size and time name the
	// entry, as the database's files name their index.
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxExecutable {
		return nil
	}
	abs, _ := filepath.Abs(p)
	key := fmt.Sprintf("dir|%s|%d|%d", abs, fi.Size(), fi.ModTime().UnixNano())
	b, err := cas.Memo(j.Cache, reachKind, key, func() (*reach.Binary, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := readELF(f, fi.Size())
		if err != nil || b == nil {
			return nil, errSkip
		}
		return j.parse(loc, b), nil
	})
	if err != nil {
		return nil
	}
	return b
}

// errSkip marks a location that holds no executable.
var errSkip = errors.New("not an executable")

// filesInLayer reads ELF files from one layer of an image, by the
// layer's diff ID (or digest), in one pass: the bytes of each, by
// location, of those found.
func (j *job) filesInLayer(ctx context.Context, art *pull.Artifact, layer string, files map[string]string) (map[string][]byte, error) {
	img := j.image
	if img == nil {
		var err error
		if img, err = art.Image(ctx); err != nil {
			return nil, err
		}
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
	got := map[string][]byte{}
	tr := tar.NewReader(rc)
	for len(got) < len(files) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return got, err
		}
		loc, ok := files[strings.TrimPrefix(path.Clean("/"+h.Name), "/")]
		if !ok || h.Typeflag != tar.TypeReg || h.Size > maxExecutable {
			continue
		}
		b, err := readELF(tr, h.Size)
		if err != nil {
			return got, err
		}
		if b != nil {
			got[loc] = b
		}
	}
	return got, nil
}
