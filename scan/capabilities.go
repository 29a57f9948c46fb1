package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/sbom"
)

// DeclarationFile is the name of the declaration customs looks for at the
// root of Go source.
const DeclarationFile = "capabilities.txt"

// Capabilities analyses what a target's Go code can do, as a scan's check
// of capabilities.txt does: Go source (a gomod: module, a directory with a
// go.mod) from its packages; images, directories of programs and a single
// executable (a dir: target that is a file) from their compiled Go
// executables, whose paths it returns.
func (s *Scanner) Capabilities(ctx context.Context, t pull.Target, build capabilities.Options) (*capabilities.Result, []string, error) {
	j := &job{Scanner: s, Request: Request{CapabilitiesBuild: build}, start: s.now()}
	if t.Kind == pull.Dir {
		if fi, err := os.Stat(t.Ref); err == nil && fi.Mode().IsRegular() {
			res, err := j.executable(t.Ref, fi.Size())
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", t.Input, err)
			}
			return res, []string{t.Ref}, nil
		}
	}
	art, err := pull.Fetch(ctx, t, s.pullOptions())
	if err != nil {
		return nil, nil, err
	}
	defer art.Close()
	// A directory inside a module is its packages there (DIR/...), as the
	// go command reads it.
	return j.analyze(ctx, art, isGoSource(art) || art.Target.Kind == pull.Dir && inModule(art.Dir))
}

// inModule reports whether a directory or one of its parents holds a
// go.mod.
func inModule(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// isGoSource reports whether an artifact is Go source: a module, or a
// directory with a go.mod.
func isGoSource(art *pull.Artifact) bool {
	switch {
	case art.Dir == "":
		return false
	case art.Target.Kind == pull.GoModule:
		return true
	case art.Target.Kind == pull.Dir:
		_, err := os.Stat(filepath.Join(art.Dir, "go.mod"))
		return err == nil
	}
	return false
}

// analyze analyses Go source from its packages, and anything else from
// its compiled Go executables, whose paths it returns.
func (j *job) analyze(ctx context.Context, art *pull.Artifact, goSource bool) (*capabilities.Result, []string, error) {
	if !goSource {
		return j.binaryCapabilities(ctx, art)
	}
	copts, err := j.sourceOptions(art)
	if err != nil {
		return nil, nil, err
	}
	res, err := j.analyzeSource(ctx, art, copts)
	if err != nil {
		return nil, nil, fmt.Errorf("analysing the capabilities of %s: %w", art.Target.Input, err)
	}
	return res, nil, nil
}

// checkCapabilities holds Go source against its declaration: the one
// given, else the target's capabilities.txt. Targets that are not Go
// source have nothing to check, unless a declaration was given.
func (j *job) checkCapabilities(ctx context.Context, art *pull.Artifact, r *result.Result) error {
	decl := j.Request.Capabilities
	goSource := isGoSource(art)
	if decl == nil && goSource {
		b, err := os.ReadFile(filepath.Join(art.Dir, DeclarationFile))
		switch {
		case err == nil:
			if decl, err = capabilities.Parse(filepath.Join(art.Target.Input, DeclarationFile), b); err != nil {
				return err
			}
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("reading the declaration: %w", err)
		}
	}
	if decl == nil {
		return nil
	}
	res, paths, err := j.analyze(ctx, art, goSource)
	if err != nil {
		return err
	}
	if !goSource {
		// Images and directories of programs: what their compiled Go
		// executables call.
		if len(paths) == 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("no Go executable in %s: nothing was held against %s", art.Target.Input, decl.Name))
		} else {
			r.Warnings = append(r.Warnings, fmt.Sprintf("capabilities read from the compiled Go executables %s: direct calls only (calls through interfaces and function values are not seen; analyse the source for those)", strings.Join(paths, ", ")))
		}
	}
	rep := capabilities.Check(decl, res)
	r.Capabilities = rep
	r.CapabilityAnalysis, r.Declaration = res, string(decl.Format())
	if !rep.Passed() {
		r.Gate.Reasons = append(r.Gate.Reasons, fmt.Sprintf("%d capabilities are used but not declared in %s", len(rep.Violations), decl.Name))
		r.Gate.Passed = false
	}
	return nil
}

// sourceKind is the cache kind of source analyses; it names their format.
const sourceKind = "caps-source-3"

// sourceOptions are how a scan builds Go source: as the request says, in
// the artifact's directory, a module prepared as the main module.
func (j *job) sourceOptions(art *pull.Artifact) (capabilities.Options, error) {
	copts := j.CapabilitiesBuild
	copts.Dir, copts.Logger = art.Dir, j.Logger
	if art.Target.Kind == pull.GoModule && art.Module != nil {
		if err := capabilities.PrepareModule(&copts, art.Module.Path); err != nil {
			return copts, err
		}
	}
	return copts, nil
}

// sourceKey names what is analysed of Go source in the cache: the same
// content (the directory's digest or the module version, with go.sum
// pinning the dependencies), build settings and Go release; "" when the
// content has no name.
func (j *job) sourceKey(art *pull.Artifact, copts capabilities.Options) string {
	k := sbom.CacheKey(art, j.sbomOptions(!j.NeedSBOM))
	if k == "" {
		return ""
	}
	return fmt.Sprintf("%s|%s/%s|%s|%s|all=%v|%s", k, copts.GOOS, copts.GOARCH, strings.Join(copts.Tags, ","), runtime.Version(), copts.All, strings.Join(copts.Patterns, " "))
}

// program loads Go source once per scan: its capabilities and the
// reachability of its vulnerabilities are read from one call graph.
func (j *job) program(ctx context.Context, copts capabilities.Options) (*capabilities.Program, error) {
	j.progOnce.Do(func() { j.prog, j.progErr = capabilities.Load(ctx, copts) })
	return j.prog, j.progErr
}

// analyzeSource analyses Go source, or reads the analysis of the same
// content from the cache.
func (j *job) analyzeSource(ctx context.Context, art *pull.Artifact, copts capabilities.Options) (*capabilities.Result, error) {
	return cas.Memo(j.Cache, sourceKind, j.sourceKey(art, copts), func() (*capabilities.Result, error) {
		p, err := j.program(ctx, copts)
		if err != nil {
			return nil, err
		}
		return p.Capabilities(ctx)
	})
}
