package sbom

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anchore/packageurl-go"
	"github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/cataloging"
	syftfile "github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/directorysource"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
)

// cacheSchema changes whenever what Generate produces for the same input
// changes, so that cached SBOMs of older builds are not reused.
const cacheSchema = "4"

// Options configures Generate.
type Options struct {
	// Cache keeps generated SBOMs by image digest or module version; nil
	// disables it.
	Cache *cas.Store
	// ToolName and ToolVersion are recorded in the SBOM.
	ToolName, ToolVersion string
	// Logger receives debug detail; nil discards it.
	Logger *slog.Logger
	// Progress is told when cataloging starts and ends, which can take
	// seconds with nothing downloaded to show for it; nil discards it.
	Progress func(pull.Progress)
	// ForMatching makes an SBOM for vulnerability matching only, and does
	// not cache it: without file metadata and digests, file-ownership
	// relationships, syft's binary classifier (whose generic packages no
	// vulnerability database can match) and ELF package notes (which
	// duplicate the distribution's own packages once ownership is not
	// worked out), without CPEs, and without what a Debian package's info
	// and copyright files add (its file list, its license, and those files
	// among its locations).
	ForMatching bool
	// Key is the artifact's cache key when the caller already has it from
	// CacheKey (a directory's costs a walk over its content); "" computes it.
	Key string
	// IncludeCI keeps in a Go module's SBOM the packages of its CI
	// configuration (the GitHub Actions its workflows use). They are left
	// out by default: they are how the module's repository is built and
	// tested, not part of the module that its users import.
	IncludeCI bool
	// MaxArchiveDepth is how many levels of archives inside archives
	// (jars in jars) are cataloged; 0 is DefaultMaxArchiveDepth.
	MaxArchiveDepth int
}

// Generate builds the SBOM of a pulled artifact. Images are read layer by
// layer and each package records the layer it came from; Go modules list
// their whole module graph.
func Generate(ctx context.Context, a *pull.Artifact, opts Options) (*syftsbom.SBOM, error) {
	if a.SBOMPath == "" && opts.Key == "" {
		opts.Key = cacheKey(a, opts)
	}
	switch {
	case a.SBOMPath != "":
		f, err := os.Open(a.SBOMPath)
		if err != nil {
			return nil, fmt.Errorf("reading SBOM %s: %w", a.SBOMPath, err)
		}
		defer f.Close()
		s, err := Decode(f)
		if err != nil {
			return nil, fmt.Errorf("reading SBOM %s: %w", a.SBOMPath, err)
		}
		return s, nil
	case a.Module != nil:
		return cached(opts, opts.Key, func() (*syftsbom.SBOM, error) {
			return moduleSBOM(ctx, a, opts)
		})
	case a.Dir != "":
		return cached(opts, opts.Key, func() (*syftsbom.SBOM, error) {
			src, err := directorysource.New(directorysource.Config{Path: a.Dir})
			if err != nil {
				return nil, fmt.Errorf("reading directory %s: %w", a.Dir, err)
			}
			defer src.Close()
			return create(ctx, src, opts)
		})
	case a.Target.Kind.IsImage():
		return cached(opts, opts.Key, func() (*syftsbom.SBOM, error) {
			return imageSBOM(ctx, a, opts)
		})
	}
	return nil, fmt.Errorf("no SBOM can be made of %s", a.Target)
}

// cacheKey names what an artifact's SBOM is cached under: the image
// manifest digest or the module version, and the version of customs that
// made it. Directories and SBOM files are not cached ("").
func cacheKey(a *pull.Artifact, opts Options) string {
	prefix := "v" + cacheSchema + "/" + opts.ToolVersion + "/"
	if opts.ForMatching {
		prefix += "match/"
	}
	if d := opts.archiveDepth(); d != DefaultMaxArchiveDepth {
		prefix += fmt.Sprintf("depth%d/", d)
	}
	switch {
	case a.SBOMPath != "":
		return ""
	case a.Dir != "" && a.Module == nil:
		d, err := dirDigest(a.Dir)
		if err != nil {
			return ""
		}
		abs, _ := filepath.Abs(a.Dir)
		return prefix + "dir/" + abs + "/" + d
	case a.Module != nil:
		if opts.IncludeCI {
			prefix += "ci/"
		}
		return prefix + "gomod/" + a.Module.Path + "@" + a.Module.Version.Version
	case a.Target.Kind.IsImage():
		// The SBOM names the image as the target wrote it, so the same
		// digest under another name is another entry.
		return prefix + "image/" + a.Target.Kind.String() + "/" + a.Reference + "/" + a.Digest.String()
	}
	return ""
}

// Directories larger than this are cataloged every time rather than
// hashed for the cache.
const (
	maxCachedDirFiles = 200_000
	maxCachedDirBytes = 8 << 30
)

// CacheKey names what the artifact's SBOM is cached under, "" when it is
// not cached; other stages key what they derive from the SBOM by it.
func CacheKey(a *pull.Artifact, opts Options) string { return cacheKey(a, opts) }

// dirDigest is a digest of a directory's content: every entry's path and
// type, each file's sha256 and each link's target. Hashing a tree costs
// far less than cataloging it, so a directory's SBOM can be cached by it.
func dirDigest(dir string) (string, error) {
	if abs, err := filepath.Abs(dir); err != nil || abs == "/" {
		return "", errors.New("a whole root filesystem is not cached") // and /proc may block
	}
	h := sha256.New()
	var files, size int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch t := d.Type(); {
		case t.IsRegular():
			if info, err := d.Info(); err == nil {
				files, size = files+1, size+info.Size()
			}
			if files > maxCachedDirFiles || size > maxCachedDirBytes {
				return errors.New("too large to cache")
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fh := sha256.New()
			_, err = io.Copy(fh, f)
			f.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %q %x\n", rel, fh.Sum(nil))
		case t&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(h, "l %q %q\n", rel, target)
		case t.IsDir():
			fmt.Fprintf(h, "d %q\n", rel)
		default:
			fmt.Fprintf(h, "o %q %v\n", rel, t)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// Render returns the artifact's SBOM encoded in each format. An artifact
// whose SBOM was rendered in all these formats before is served from the
// cache as it was first written (byte for byte, with its creation time and
// serial number), without decoding anything.
func Render(ctx context.Context, a *pull.Artifact, formats []string, opts Options) ([][]byte, error) {
	key := opts.Key
	if key == "" {
		key = cacheKey(a, opts)
		opts.Key = key
	}
	out := make([][]byte, len(formats))
	if key != "" && opts.Cache != nil {
		hit := true
		for i, f := range formats {
			b, err := opts.Cache.Get("rendered", key+"/"+f)
			if err != nil {
				hit = false
				break
			}
			out[i] = b
		}
		if hit {
			opts.logger().Debug("rendered SBOMs from cache", "key", key)
			return out, nil
		}
	}
	s, err := Generate(ctx, a, opts)
	if err != nil {
		return nil, err
	}
	for i, f := range formats {
		var buf bytes.Buffer
		if err := Encode(&buf, s, f); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f, err)
		}
		out[i] = buf.Bytes()
		if key != "" && opts.Cache != nil {
			opts.Cache.Put("rendered", key+"/"+f, out[i])
		}
	}
	return out, nil
}

// cached returns the SBOM stored under key, or makes and stores it. Entries
// are syft JSON, which keeps everything the encoders need. SBOMs made for
// matching are not stored: their users cache what they derive from them
// (under CacheKey), which is far smaller to write and read.
func cached(opts Options, key string, make func() (*syftsbom.SBOM, error)) (*syftsbom.SBOM, error) {
	if opts.ForMatching {
		return make()
	}
	encode := func(s *syftsbom.SBOM) ([]byte, error) {
		var buf bytes.Buffer
		enc, err := syftjson.NewFormatEncoderWithConfig(syftjson.EncoderConfig{Legacy: false})
		if err != nil {
			return nil, err
		}
		err = enc.Encode(&buf, *s)
		return buf.Bytes(), err
	}
	decode := func(b []byte) (*syftsbom.SBOM, error) {
		start := time.Now()
		s, _, _, err := syftjson.NewFormatDecoder().Decode(bytes.NewReader(b))
		if err == nil {
			opts.logger().Debug("SBOM from cache", "key", key, "bytes", len(b), "took", time.Since(start))
		}
		return s, err
	}
	return cas.MemoWith(opts.Cache, "sbom", key, encode, decode, make)
}

// defaultConfig is a copy of syft's default configuration, made once per
// process: making it compiles the binary classifiers' hundred-odd regular
// expressions, a good part of a cold scan of a Go binary and, before, a
// cost a server paid on every SBOM (bench/README.md has the figures).
func defaultConfig() *syft.CreateSBOMConfig {
	c := *syftDefaults()
	return &c
}

// syftDefaults is shared by every SBOM of the process: it is only ever
// copied (by defaultConfig), never changed.
var syftDefaults = sync.OnceValue(syft.DefaultCreateSBOMConfig)

// Prepare makes syft's default configuration in the background, for a
// caller with other work to do before it generates an SBOM.
func Prepare() { go syftDefaults() }

// ciCatalogers are syft's catalogers (by tag) of CI configuration.
var ciCatalogers = []string{"github-actions"}

// config is syft's configuration for opts, without the catalogers named
// (or tagged) in remove.
func config(opts Options, remove ...string) *syft.CreateSBOMConfig {
	name, version := opts.ToolName, opts.ToolVersion
	if name == "" {
		name = "customs"
	}
	// Archives inside archives are opened by syft's archive task, to a
	// bounded depth, rather than by its Java cataloger, which recurses into
	// jars in jars without a bound (a zip that contains itself would not
	// end).
	archives := cataloging.DefaultArchiveSearchConfig()
	archives.MaxDepth = opts.archiveDepth()
	cfg := defaultConfig().WithTool(name, version).WithArchiveConfig(archives)
	if opts.ForMatching {
		remove = append(remove, "binary-classifier-cataloger", "elf-binary-package-cataloger")
	}
	if len(remove) > 0 {
		cfg = cfg.WithCatalogerSelection(cataloging.NewSelectionRequest().WithRemovals(remove...))
	}
	if opts.ForMatching {
		// No CPEs either: OSV matches by package URL, and loading syft's
		// CPE dictionary is a visible part of a cold scan's CPU.
		cfg = cfg.WithoutFiles().
			WithRelationshipsConfig(cataloging.RelationshipsConfig{}).
			WithDataGenerationConfig(cataloging.DataGenerationConfig{GenerateCPEs: false})
	}
	return cfg
}

func create(ctx context.Context, src source.Source, opts Options, remove ...string) (*syftsbom.SBOM, error) {
	start := time.Now()
	opts.progress(pull.Progress{What: "cataloging packages"})
	defer opts.progress(pull.Progress{What: "cataloging packages", Finished: true})
	cfg := config(opts, remove...)
	var err error
	search := searchSource{src}
	src = search
	if opts.ForMatching {
		ctx, err = withoutLicenses(ctx)
		src = matchingSource{search}
	} else {
		ctx, err = withLicenses(ctx, cfg.Licenses, opts.logger())
	}
	if err != nil {
		return nil, err
	}
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err != nil {
		return nil, fmt.Errorf("cataloging: %w", err)
	}
	opts.logger().Debug("cataloged packages", "packages", s.Artifacts.Packages.PackageCount(), "took", time.Since(start))
	return s, nil
}

// DefaultMaxArchiveDepth is how deep archives in archives are opened
// unless Options say otherwise (a Spring Boot jar's libraries are one
// level down).
const DefaultMaxArchiveDepth = 4

// maxArchiveDepth is syft's own bound on nested archives.
const maxArchiveDepth = 16

func (o Options) archiveDepth() int {
	switch {
	case o.MaxArchiveDepth <= 0:
		return DefaultMaxArchiveDepth
	case o.MaxArchiveDepth > maxArchiveDepth:
		return maxArchiveDepth
	}
	return o.MaxArchiveDepth
}

func (o Options) progress(p pull.Progress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func imageSBOM(ctx context.Context, a *pull.Artifact, opts Options) (*syftsbom.SBOM, error) {
	img, err := a.Image(ctx)
	if err != nil {
		return nil, err
	}
	if !opts.ForMatching && compressedSize(img) >= warmLicensesAt {
		warmClassifier()
	}
	tmp := file.NewTempDirGenerator("customs")
	defer tmp.Cleanup()
	contentDir, err := tmp.NewDirectory("content")
	if err != nil {
		return nil, err
	}
	meta := []image.AdditionalMetadata{image.WithManifestDigest(a.Digest.String())}
	if a.Target.Kind == pull.Registry {
		meta = append(meta, image.WithRepoDigests(a.Reference))
	}
	simg := image.New(img, tmp, contentDir, meta...)
	start := time.Now()
	if err := simg.Read(ctx); err != nil {
		return nil, fmt.Errorf("reading image %s: %w", a.Reference, err)
	}
	opts.logger().Debug("read image layers", "image", a.Reference, "took", time.Since(start))
	src := stereoscopesource.New(simg, stereoscopesource.ImageConfig{
		Reference: a.Target.Input,
		Alias:     source.Alias{Name: imageName(a), Version: a.Digest.String()},
	})
	defer src.Close()
	return create(ctx, src, opts)
}

// warmLicensesAt is the compressed size of an image from which its full
// SBOM builds syft's license classifier while the layers are read, rather
// than when a file first needs it.
const warmLicensesAt = 16 << 20

// compressedSize is the size of an image's layers as its manifest says.
func compressedSize(img v1.Image) int64 {
	m, err := img.Manifest()
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// imageName is the image's name without tag or digest, for the SBOM's
// subject; the version is always the manifest digest.
func imageName(a *pull.Artifact) string {
	if a.Target.Kind != pull.Registry {
		return a.Target.Input
	}
	name, _, _ := strings.Cut(a.Reference, "@")
	return name
}

// moduleSBOM catalogs the unpacked module (for anything that is not Go,
// such as vendored JavaScript) and replaces what syft reads from go.mod
// with the module graph that minimal version selection chose.
func moduleSBOM(ctx context.Context, a *pull.Artifact, opts Options) (*syftsbom.SBOM, error) {
	m := a.Module
	src, err := directorysource.New(directorysource.Config{
		Path:  a.Dir,
		Alias: source.Alias{Name: m.Path, Version: m.Version.Version},
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var remove []string
	if !opts.IncludeCI {
		remove = append(remove, ciCatalogers...)
	}
	s, err := create(ctx, src, opts, remove...)
	if err != nil {
		return nil, err
	}
	var drop []artifact.ID
	for p := range s.Artifacts.Packages.Enumerate(pkg.GoModulePkg) {
		drop = append(drop, p.ID())
	}
	s.Artifacts.Packages.Delete(drop...)
	keep := s.Relationships[:0]
	dropped := map[artifact.ID]bool{}
	for _, id := range drop {
		dropped[id] = true
	}
	for _, r := range s.Relationships {
		if !dropped[r.From.ID()] && !dropped[r.To.ID()] {
			keep = append(keep, r)
		}
	}
	s.Relationships = keep

	root := goPackage(m.Path, m.Version.Version, m.Sum)
	s.Artifacts.Packages.Add(root)
	for _, d := range m.Deps {
		p := goPackage(d.Path, d.Version.Version, d.Sum)
		s.Artifacts.Packages.Add(p)
		s.Relationships = append(s.Relationships, artifact.Relationship{From: p, To: root, Type: artifact.DependencyOfRelationship})
	}
	return s, nil
}

func goPackage(path, version, sum string) pkg.Package {
	ns, name := "", path
	if i := strings.LastIndex(path, "/"); i > 0 {
		ns, name = path[:i], path[i+1:]
	}
	p := pkg.Package{
		Name:     path,
		Version:  version,
		Type:     pkg.GoModulePkg,
		Language: pkg.Go,
		PURL:     packageurl.NewPackageURL(packageurl.TypeGolang, ns, name, version, nil, "").ToString(),
		Metadata: pkg.GolangModuleEntry{H1Digest: sum},
	}
	p.SetID()
	return p
}

// matchingSource hides from syft what only a full SBOM needs of a Debian
// package: its file list (md5sums, conffiles), its other info files and
// its copyright file. syft's dpkg cataloger looks them up for every
// package and merges the file lists pairwise: about a fifth of the CPU of a
// cold scan of the benchmark's Debian image, where matching needs the
// name, version and distribution alone.
type matchingSource struct{ searchSource }

func (s matchingSource) FileResolver(scope source.Scope) (syftfile.Resolver, error) {
	r, err := s.searchSource.FileResolver(scope)
	if err != nil {
		return nil, err
	}
	return matchingResolver{r}, nil
}

type matchingResolver struct{ syftfile.Resolver }

// FilesByGlob finds no /var/lib/dpkg/info/PKG.* (the evidence syft lists
// beside the status file).
func (r matchingResolver) FilesByGlob(patterns ...string) ([]syftfile.Location, error) {
	var keep []string
	for _, p := range patterns {
		dir, base := path.Split(p)
		if len(base) > 2 && strings.HasSuffix(base, ".*") && (strings.HasSuffix(dir, "/info/") || strings.HasSuffix(dir, "/status.d/")) {
			continue
		}
		keep = append(keep, p)
	}
	if len(keep) == 0 {
		return nil, nil
	}
	return r.Resolver.FilesByGlob(keep...)
}

func (r matchingResolver) RelativeFileByPath(l syftfile.Location, p string) *syftfile.Location {
	if dpkgExtra(p) {
		return nil
	}
	return r.Resolver.RelativeFileByPath(l, p)
}

// dpkgExtra reports the files the dpkg cataloger reads beside its
// database: /var/lib/dpkg/info/PKG.md5sums and .conffiles (or under
// status.d/ in distroless images), and /usr/share/doc/PKG/copyright.
func dpkgExtra(p string) bool {
	dir, base := path.Split(p)
	switch {
	case strings.HasSuffix(base, ".md5sums"), strings.HasSuffix(base, ".conffiles"):
		return strings.HasSuffix(dir, "/info/") || strings.HasSuffix(dir, "/status.d/")
	case base == "copyright":
		return strings.HasPrefix(dir, "/usr/share/doc/")
	}
	return false
}
