package main

import (
	"fmt"
	"log/slog"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
)

// pullFlags are the flags of every command that fetches a target.
type pullFlags struct {
	platform string
	insecure []string
	limits   pull.Limits
	maxSize  string
	// maxFileSize is --max-file-size as given.
	maxFileSize string
	// maxManifestSize is --max-manifest-size as given.
	maxManifestSize string
	// maxSBOMSize is --max-sbom-size as given.
	maxSBOMSize string
	// archiveDepth is --max-archive-depth, a limit of the SBOM's reading.
	archiveDepth int
	// includeCI is --include-ci, of the commands that make module SBOMs.
	includeCI bool
}

// sbomOptions are how the commands that pull make SBOMs: cached in the
// cache they pull into, within --max-archive-depth, telling progress
// (which may be nil) when they catalog.
func (f *pullFlags) sbomOptions(cache *cas.Store, logger *slog.Logger, progress func(pull.Progress)) sbom.Options {
	return sbom.Options{Cache: cache, ToolName: "customs", ToolVersion: readVersion().Version, Logger: logger, Progress: progress, MaxArchiveDepth: f.archiveDepth, IncludeCI: f.includeCI}
}

func (f *pullFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform to pick from a multi-platform image, and that a single image's config must name, os/arch[/variant] (default: the host's from an index, any single image)")
	f.registerRegistry(cmd)
	d := pull.DefaultLimits()
	cmd.Flags().IntVar(&f.limits.MaxLayers, "max-layers", d.MaxLayers, "refuse images with more layers than this")
	cmd.Flags().StringVar(&f.maxSize, "max-image-size", "16GiB", "refuse images whose compressed layers add up to more than this (bytes, or with KiB, MiB, GiB)")
	cmd.Flags().Int64Var(&f.limits.MaxExpansion, "max-expansion", d.MaxExpansion, "refuse a layer that decompresses to more than this many times its compressed size (a decompression bomb)")
	cmd.Flags().Int64Var(&f.limits.MaxFiles, "max-files", d.MaxFiles, "refuse images whose layers hold more files (tar entries) than this together")
	cmd.Flags().StringVar(&f.maxFileSize, "max-file-size", "8GiB", "refuse images with a single file larger than this (bytes, or with KiB, MiB, GiB)")
	cmd.Flags().StringVar(&f.maxManifestSize, "max-manifest-size", "4MiB", "refuse a manifest, index or config larger than this")
	cmd.Flags().StringVar(&f.maxSBOMSize, "max-sbom-size", "512MiB", "refuse an sbom: target larger than this")
	cmd.Flags().IntVar(&f.archiveDepth, "max-archive-depth", sbom.DefaultMaxArchiveDepth, "open archives inside archives (jars in jars) this many levels deep for the SBOM, at most 16")
}

// registerRegistry adds only the flags of reaching a registry, for verify:
// it reads manifests and signatures, never layers, so the image limits and
// --platform would be flags that do nothing.
func (f *pullFlags) registerRegistry(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.insecure, "insecure-registry", nil, "reach this registry HOST[:PORT] over plain HTTP (repeatable; loopback hosts need not be named)")
}

// registerCI adds --include-ci, to the commands that catalog gomod:
// targets for the user to read.
func (f *pullFlags) registerCI(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.includeCI, "include-ci", false, "list in a gomod: module's SBOM the GitHub Actions its .github/workflows use (by default left out: they build and test the module's repository and are not part of the module its users import)")
}

// options builds pull options from the flags and the injected environment.
func (f *pullFlags) options(a *app, cmd *cobra.Command) (pull.Options, error) {
	store, err := cas.Open(a.cachePath())
	if err != nil {
		return pull.Options{}, err
	}
	opts := pull.Options{
		Cache:              store,
		Keychain:           authn.DefaultKeychain,
		InsecureRegistries: f.insecure,
		Getenv:             a.getenv,
		Logger:             a.logger(),
		Progress:           a.newProgress(a.stderr).update,
	}
	for _, size := range []struct {
		flag, value string
		into        *int64
	}{
		{"--max-image-size", f.maxSize, &f.limits.MaxImageSize},
		{"--max-file-size", f.maxFileSize, &f.limits.MaxFileSize},
		{"--max-manifest-size", f.maxManifestSize, &f.limits.MaxManifestSize},
		{"--max-sbom-size", f.maxSBOMSize, &f.limits.MaxSBOMSize},
	} {
		if size.value == "" {
			continue
		}
		n, err := parseSize(size.value)
		if err != nil {
			return pull.Options{}, usageError{err: fmt.Errorf("%s %q: %v", size.flag, size.value, err)}
		}
		*size.into = n
	}
	opts.Limits = f.limits
	if f.platform != "" {
		p, err := pull.ParsePlatform(f.platform)
		if err != nil {
			return pull.Options{}, err
		}
		opts.Platform = p
	}
	return opts, nil
}
