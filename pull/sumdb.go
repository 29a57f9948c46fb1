package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"

	"github.com/customs-dev/customs/internal/cas"
)

// knownSumDBs are the checksum databases the go command knows by name.
var knownSumDBs = map[string]string{
	"sum.golang.org":       "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
	"sum.golang.google.cn": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
}

// Cache kinds of module hashes: verified against the checksum database, or
// recorded for a module the Go settings exclude from checking. A hash of
// the second kind is never taken as verified.
const (
	sumVerified   = "gosum"
	sumUnverified = "gosum-unverified"
)

// checksums verifies module hashes against the checksum database, as the go
// command does, unless the Go settings exclude the module.
// It connects to the database on first use, so that a run that finds
// everything verified in the cache needs no network.
type checksums struct {
	ctx   context.Context
	opts  *Options
	proxy *goproxy

	key     string // verifier key
	base    string // URL given in GOSUMDB, or "https://" + the name written
	viaURL  bool   // GOSUMDB named the URL, so no proxy stands in for it
	noSumDB string // GONOSUMDB, with GOPRIVATE as fallback
	off     bool   // GOSUMDB=off

	once    sync.Once
	initErr error
	client  *sumdb.Client
	ops     *sumdbOps
}

// newChecksums reads the Go settings; it does not touch the network.
func newChecksums(ctx context.Context, opts *Options, proxy *goproxy) (*checksums, error) {
	c := &checksums{ctx: ctx, opts: opts, proxy: proxy}
	c.noSumDB = firstNonEmpty(opts.getenv("GONOSUMDB"), opts.getenv("GOPRIVATE"))
	gosumdb := strings.TrimSpace(opts.getenv("GOSUMDB"))
	if gosumdb == "" {
		gosumdb = "sum.golang.org"
	}
	if gosumdb == "off" {
		c.off = true
		return c, nil
	}
	written, direct, _ := strings.Cut(gosumdb, " ")
	key := written
	if k, ok := knownSumDBs[written]; ok {
		key = k
	}
	if !strings.Contains(key, "+") {
		return nil, &UsageError{Msg: fmt.Sprintf("GOSUMDB=%q names an unknown checksum database without its key", gosumdb), Hint: "write GOSUMDB=\"NAME+KEY [URL]\" or GOSUMDB=off"}
	}
	c.key = key
	c.base = strings.TrimSuffix(strings.TrimSpace(direct), "/")
	c.viaURL = c.base != ""
	if !c.viaURL {
		name, _, _ := strings.Cut(written, "+")
		c.base = "https://" + name
	}
	return c, nil
}

// verifies reports whether the settings have path checked against the
// database.
func (c *checksums) verifies(path string) bool {
	return !c.off && !module.MatchPrefixPatterns(c.noSumDB, path)
}

// kind is the cache kind under which path's hashes are kept.
func (c *checksums) kind(path string) string {
	if c.verifies(path) {
		return sumVerified
	}
	return sumUnverified
}

// warning says what the settings leave unverified, or "".
func (c *checksums) warning() string {
	if c.off {
		return "GOSUMDB=off: module checksums are not verified against the checksum database"
	}
	return ""
}

func (c *checksums) init() {
	c.initErr = c.connect(c.ctx)
}

func (c *checksums) connect(ctx context.Context) error {
	name, _, _ := strings.Cut(c.key, "+")
	base := c.base
	if !c.viaURL {
		// Like the go command, prefer a proxy that serves the database.
		for _, p := range c.proxy.proxies {
			if p.url == "direct" || p.url == "off" || p.url == "noproxy" {
				break
			}
			if _, err := c.proxy.fetch(ctx, p.url+"/sumdb/"+name+"/supported"); err == nil {
				base = p.url + "/sumdb/" + name
				break
			}
		}
	}
	dir, err := c.opts.Cache.Path("sumdb", "x")
	if err != nil {
		return err
	}
	c.ops = &sumdbOps{ctx: ctx, key: c.key, base: base, dir: filepath.Dir(dir), proxy: c.proxy}
	c.client = sumdb.NewClient(c.ops)
	if c.noSumDB != "" {
		c.client.SetGONOSUMDB(c.noSumDB)
	}
	return nil
}

// lookup returns the go.sum lines for path@version ("h1:" hashes for the
// zip and for "/go.mod"), or nil when the module is excluded from checking.
func (c *checksums) lookup(path, version string) (map[string]string, error) {
	if !c.verifies(path) {
		return nil, nil
	}
	c.once.Do(c.init)
	if c.initErr != nil {
		return nil, c.initErr
	}
	out := map[string]string{}
	// The database holds both lines in one record; Lookup filters by version.
	for _, v := range []string{version, version + "/go.mod"} {
		lines, err := c.client.Lookup(path, v)
		if errors.Is(err, sumdb.ErrGONOSUMDB) {
			return nil, nil
		}
		if err != nil {
			if msgs := c.ops.securityErrors(); len(msgs) > 0 {
				err = fmt.Errorf("%w; SECURITY ERROR from the checksum database client: %s", err, strings.Join(msgs, "; "))
			}
			return nil, fmt.Errorf("looking up %s@%s in the checksum database: %w", path, version, err)
		}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) == 3 {
				out[f[1]] = f[2]
			}
		}
	}
	return out, nil
}

type sumdbOps struct {
	ctx   context.Context
	key   string
	base  string
	dir   string
	proxy *goproxy

	mu       sync.Mutex
	security []string
}

func (o *sumdbOps) ReadRemote(p string) ([]byte, error) {
	return o.proxy.fetch(o.ctx, o.base+p)
}

func (o *sumdbOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	b, err := os.ReadFile(o.configPath(file))
	if errors.Is(err, os.ErrNotExist) {
		return []byte{}, nil
	}
	return b, err
}

func (o *sumdbOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, err := o.ReadConfig(file)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	return cas.WriteFile(o.configPath(file), new, 0o644)
}

func (o *sumdbOps) ReadCache(file string) ([]byte, error) {
	return os.ReadFile(o.cachePath(file))
}

func (o *sumdbOps) WriteCache(file string, data []byte) {
	cas.WriteFile(o.cachePath(file), data, 0o644)
}

func (o *sumdbOps) Log(string) {}

func (o *sumdbOps) SecurityError(msg string) {
	o.mu.Lock()
	o.security = append(o.security, msg)
	o.mu.Unlock()
}

func (o *sumdbOps) securityErrors() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.security...)
}

func (o *sumdbOps) configPath(file string) string {
	return filepath.Join(o.dir, "config", safeRel(file))
}

func (o *sumdbOps) cachePath(file string) string {
	return filepath.Join(o.dir, "cache", safeRel(file))
}

// safeRel keeps names from the checksum database inside the cache.
func safeRel(p string) string {
	p = filepath.Clean("/" + filepath.FromSlash(p))
	return strings.TrimPrefix(p, string(filepath.Separator))
}
