package pull

import (
	"context"
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/cas"
)

// Artifact is a resolved target. Image targets carry their manifest
// digest from the start, so that later stages can key caches by it before
// any layer is fetched; Image fetches the rest.
type Artifact struct {
	Target Target

	// Digest is the digest of the image manifest that was selected (for a
	// multi-platform index, the platform's manifest). Image targets only.
	Digest v1.Hash
	// IndexDigest is the digest of the index the manifest was selected from,
	// if any.
	IndexDigest v1.Hash
	// Reference names the image by digest, for example
	// 127.0.0.1:5000/app@sha256:…; for local images the target plus digest.
	Reference string
	// Platform is the platform of the selected manifest, when known.
	Platform *v1.Platform

	// Dir is the directory to catalog: the dir: target or an unpacked
	// module.
	Dir string
	// Module is the Go module and its module graph (gomod: targets).
	Module *Module
	// SBOMPath is the file of an sbom: target.
	SBOMPath string
	// Warnings are what the fetch could not check or had to skip, for the
	// user to see.
	Warnings []string

	image func(context.Context) (v1.Image, error)
	close []func() error
}

// Image returns the image of an image target, fetching whatever the cache
// lacks and verifying every blob against its digest.
func (a *Artifact) Image(ctx context.Context) (v1.Image, error) {
	if a.image == nil {
		return nil, fmt.Errorf("%s is not an image", a.Target)
	}
	img, err := a.image(ctx)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", a.Target, err)
	}
	return img, nil
}

// WrapImage has every later Image call return wrap's image in place of
// the fetched one: a stage that reads the layers alongside the next one (the
// posture checks beside the SBOM) wraps the image it reads. It does nothing
// for targets that are not images.
func (a *Artifact) WrapImage(wrap func(v1.Image) v1.Image) {
	inner := a.image
	if inner == nil {
		return
	}
	a.image = func(ctx context.Context) (v1.Image, error) {
		img, err := inner(ctx)
		if err != nil {
			return nil, err
		}
		return wrap(img), nil
	}
}

// Close releases temporary files.
func (a *Artifact) Close() error {
	var errs []error
	for i := len(a.close) - 1; i >= 0; i-- {
		errs = append(errs, a.close[i]())
	}
	a.close = nil
	return errors.Join(errs...)
}

// Fetch resolves a target. The returned artifact must be closed.
func Fetch(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	if opts.Cache == nil {
		dir, err := os.MkdirTemp("", "customs-cache-")
		if err != nil {
			return nil, err
		}
		store, err := cas.Open(dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		opts.Cache = store
		a, err := fetch(ctx, t, opts)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		a.close = append([]func() error{func() error { return os.RemoveAll(dir) }}, a.close...)
		return a, nil
	}
	return fetch(ctx, t, opts)
}

func fetch(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	switch t.Kind {
	case Registry:
		return registryImage(ctx, t, opts)
	case OCILayout:
		return layoutImage(ctx, t, opts)
	case DockerArchive, OCIArchive:
		return archiveImage(ctx, t, opts)
	case GoModule:
		return goModule(ctx, t, opts)
	case Dir:
		fi, err := os.Stat(t.Ref)
		if err != nil {
			return nil, fmt.Errorf("reading directory %s: %w", t.Ref, err)
		}
		if !fi.IsDir() {
			return nil, &UsageError{Msg: t.Ref + " is not a directory", Hint: "for an image archive write docker-archive:" + t.Ref + " or oci-archive:" + t.Ref + "; for an SBOM write sbom:" + t.Ref}
		}
		return &Artifact{Target: t, Dir: t.Ref}, nil
	case SBOMFile:
		fi, err := os.Stat(t.Ref)
		if err != nil {
			return nil, fmt.Errorf("reading SBOM %s: %w", t.Ref, err)
		}
		if max := opts.Limits.orDefaults().MaxSBOMSize; fi.Size() > max {
			return nil, &LimitError{What: "an SBOM of bytes", Value: fi.Size(), Max: max, Setting: "max-sbom-size"}
		}
		return &Artifact{Target: t, SBOMPath: t.Ref}, nil
	}
	return nil, fmt.Errorf("unsupported target kind %v", t.Kind)
}
