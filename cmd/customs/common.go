package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/verify"
)

// Helpers that several commands use: reading targets, sizes and the files
// a command is pointed at (declarations, trust policies), and where the
// database lives.

// loadDeclaration reads and parses a capabilities.txt.
func loadDeclaration(file string) (*capabilities.File, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the declaration: %w", err)
	}
	return capabilities.Parse(file, b)
}

// dbPath is --db, else $CUSTOMS_DB, else <cache>/osv.
func (a *app) dbPath(flag string) string {
	if flag != "" {
		return flag
	}
	if d := a.getenv("CUSTOMS_DB"); d != "" {
		return d
	}
	return filepath.Join(a.cachePath(), "osv")
}

// loadTrustPolicy reads a trust policy; one that names no trusted root
// but needs one gets it through TUF.
func (a *app) loadTrustPolicy(file, mirror, rootFile string) (*verify.Policy, error) {
	p, err := verify.LoadPolicy(file)
	if err != nil {
		return nil, err
	}
	a.warnInsecurePolicy(p)
	if !p.NeedsTrustedRoot() {
		return p, nil
	}
	tr, err := a.tufRoot(mirror, rootFile)
	if err != nil {
		return nil, fmt.Errorf("%s names no trusted-root: %w", file, err)
	}
	p.SetTrustedMaterial(tr)
	return p, nil
}

// tufRoot fetches the trusted root through TUF, cached in the cache
// directory for a day.
func (a *app) tufRoot(mirror, rootFile string) (*root.TrustedRoot, error) {
	return verify.FetchTrustedRoot(verify.TUF{Mirror: mirror, RootFile: rootFile, CacheDir: a.cachePath(), CacheDays: 1})
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// oneTarget checks that a command was given exactly one TARGET.
func oneTarget(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{err: fmt.Errorf("%s takes exactly one TARGET, got %d", cmd.Name(), len(args))}
	}
	return nil
}

// parseTarget is pull.ParseTarget, but a target that reads as a file path
// and names no file is reported as a missing file: otherwise it would be
// taken for an image name, and the user told of a registry's DNS error.
func parseTarget(arg string) (pull.Target, error) {
	t, err := pull.ParseTarget(arg)
	if err != nil || t.Kind != pull.Registry || t.Ref != arg || !looksLikePath(arg) {
		return t, err
	}
	if _, serr := os.Stat(arg); errors.Is(serr, fs.ErrNotExist) {
		return t, fmt.Errorf("%s: no such file or directory (an image in a registry is named like registry.example/repo:tag)", arg)
	}
	return t, nil
}

// looksLikePath tells a path from an image reference by the shapes image
// references do not take.
func looksLikePath(s string) bool {
	for _, suffix := range []string{".tar", ".tar.gz", ".tgz", ".json", ".zip"} {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~")
}

// parseSize reads a byte count: 123, 512KiB, 64MiB, 16GiB (KB, MB, GB are
// read as the binary units too).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, errors.New("write a positive size such as 16GiB")
	}
	return n * mult, nil
}

// imageGCPercent is the GOGC of scans and SBOMs of images. Reading an
// image makes mostly short-lived garbage (decompression windows, chunks of
// layers, file headers) around a live heap of about 20 MB, so the default
// GOGC of 100 lets the heap reach twice that between collections: at 50,
// a cold scan of a Debian minbase image peaks at 79 MB instead of 93 MB
// for about 8% more CPU and a little more wall time (issue 27). A small image
// (an archive under smallImage) has no heap worth bounding, and the extra
// collections cost it a fifth of its time: it keeps the default.
const (
	imageGCPercent = 50
	smallImage     = 16 << 20
)

// tuneGC sets imageGCPercent for a command on an image, unless the user
// set GOGC or the image is a small archive; the returned function
// restores the setting.
func (a *app) tuneGC(t pull.Target) (restore func()) {
	if !t.Kind.IsImage() || a.getenv("GOGC") != "" {
		return func() {}
	}
	if t.Kind == pull.DockerArchive || t.Kind == pull.OCIArchive {
		if fi, err := os.Stat(t.Ref); err == nil && fi.Size() < smallImage {
			return func() {}
		}
	}
	previous := debug.SetGCPercent(imageGCPercent)
	return func() { debug.SetGCPercent(previous) }
}
