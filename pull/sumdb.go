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

// checksums verifies module hashes against the checksum database, as the go
// command does, unless the Go settings exclude the module.
// It connects to the database on first use, so that a run that finds
// everything verified in the cache needs no network.
type checksums struct {
	ctx   context.Context
	opts  *Options
	proxy *goproxy

	once     sync.Once
	initErr  error
	client   *sumdb.Client // nil when GOSUMDB=off
	noSumDB  string        // GONOSUMDB, with GOPRIVATE as fallback
	disabled bool          // GONOSUMCHECK=1 or GOSUMDB=off
}

func (c *checksums) init() {
	c.initErr = c.connect(c.ctx, c.opts, c.proxy)
}

func (c *checksums) connect(ctx context.Context, opts *Options, proxy *goproxy) error {
	gosumdb := opts.getenv("GOSUMDB")
	if gosumdb == "" {
		gosumdb = "sum.golang.org"
	}
	noSumDB := opts.getenv("GONOSUMDB")
	if noSumDB == "" {
		noSumDB = opts.getenv("GOPRIVATE")
	}
	c.noSumDB = noSumDB
	if gosumdb == "off" || opts.getenv("GONOSUMCHECK") == "1" || strings.Contains(opts.getenv("GOFLAGS"), "-insecure") {
		c.disabled = true
		return nil
	}
	key, direct, _ := strings.Cut(gosumdb, " ")
	if k, ok := knownSumDBs[key]; ok {
		key = k
	}
	name, _, _ := strings.Cut(key, "+")
	if !strings.Contains(key, "+") {
		return &UsageError{Msg: fmt.Sprintf("GOSUMDB=%q names an unknown checksum database without its key", gosumdb), Hint: "write GOSUMDB=\"NAME+KEY [URL]\" or GOSUMDB=off"}
	}
	base := strings.TrimSpace(direct)
	if base == "" {
		base = "https://" + name
		// Like the go command, prefer a proxy that serves the database.
		for _, p := range proxy.proxies {
			if p.url == "direct" || p.url == "off" || p.url == "noproxy" {
				break
			}
			if _, err := proxy.fetch(ctx, p.url+"/sumdb/"+name+"/supported"); err == nil {
				base = p.url + "/sumdb/" + name
				break
			}
		}
	}
	dir, err := opts.Cache.Path("sumdb", "x")
	if err != nil {
		return err
	}
	ops := &sumdbOps{ctx: ctx, key: key, base: strings.TrimSuffix(base, "/"), dir: filepath.Dir(dir), proxy: proxy}
	c.client = sumdb.NewClient(ops)
	if noSumDB != "" {
		c.client.SetGONOSUMDB(noSumDB)
	}
	return nil
}

// lookup returns the go.sum lines for path@version ("h1:" hashes for the
// zip and for "/go.mod"), or nil when the module is excluded from checking.
func (c *checksums) lookup(path, version string) (map[string]string, error) {
	c.once.Do(c.init)
	if c.initErr != nil {
		return nil, c.initErr
	}
	if c.disabled || module.MatchPrefixPatterns(c.noSumDB, path) {
		return nil, nil
	}
	out := map[string]string{}
	// The database holds both lines in one record; Lookup filters by version.
	for _, v := range []string{version, version + "/go.mod"} {
		lines, err := c.client.Lookup(path, v)
		if errors.Is(err, sumdb.ErrGONOSUMDB) {
			return nil, nil
		}
		if err != nil {
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
