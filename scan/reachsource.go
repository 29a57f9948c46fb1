package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/vuln/reach"
)

// sourceReachKind is the cache kind of what Go source's entry points
// reach; it names the format of capabilities.Reach.
const sourceReachKind = "reach-source-2"

// sourceGrader grades the Go findings of Go source (a gomod: module, a
// directory with a go.mod) from what its entry points reach, loading the
// source on first use.
type sourceGrader struct {
	j      *job
	art    *pull.Artifact
	loaded bool
	src    *reach.Source
	// warning says why the source could not be analysed.
	warning string
	// none is set when the source holds no Go package to grade from.
	none bool
}

// covers reports whether a finding's locations are the source's own
// requirements: none (a module) or the root go.mod and go.sum; a nested
// module's go.mod or an executable under the directory is not.
func (s *sourceGrader) covers(locations []string) bool {
	if s.none || !isGoSource(s.art) {
		return false
	}
	for _, l := range locations {
		if l != "go.mod" && l != "go.sum" {
			return false
		}
	}
	return true
}

// source reads what the entry points reach from the cache, or analyses
// the source (sharing the call graph with the capabilities check). Source
// that cannot be built grades its findings unknown, and says why.
func (s *sourceGrader) source(ctx context.Context) *reach.Source {
	if s.loaded {
		return s.src
	}
	s.loaded = true
	copts, err := s.j.sourceOptions(s.art)
	var r *capabilities.Reach
	if err == nil {
		r, err = cas.Memo(s.j.Cache, sourceReachKind, s.j.sourceKey(s.art, copts), func() (*capabilities.Reach, error) {
			p, err := s.j.program(ctx, copts)
			if err != nil {
				return nil, err
			}
			return p.Reach(ctx)
		})
	}
	if errors.Is(err, capabilities.ErrNoPackages) {
		// No code: nothing to grade.
		s.none = true
		return nil
	}
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		s.warning = fmt.Sprintf("reachability: the Go source of %s could not be analysed, so its Go vulnerabilities are graded unknown and gated (%s)", s.art.Target.Input, first)
		return nil
	}
	s.src = reach.NewSource(r)
	return s.src
}

// prefetchSource starts loading Go source when reachability will need it
// and the cache does not hold what it reaches; the function it returns
// stops the load and waits for it, before the source is removed.
func (j *job) prefetchSource(ctx context.Context, art *pull.Artifact) func() {
	if j.Policy.Reachability == ReachOff || !isGoSource(art) {
		return func() {}
	}
	copts, err := j.sourceOptions(art)
	if err != nil {
		return func() {}
	}
	if key := j.sourceKey(art, copts); key == "" || j.Cache.Has(sourceReachKind, key) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.program(ctx, copts)
	}()
	return func() {
		cancel()
		<-done
	}
}
