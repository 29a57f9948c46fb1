package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/customs-dev/customs/internal/cas"
)

// Module is a Go module version and the module graph its go.mod selects.
type Module struct {
	module.Version
	// Time is when the proxy says the version was published.
	Time time.Time
	// GoVersion is the go directive of its go.mod.
	GoVersion string
	// Sum is the module zip's "h1:" hash, verified.
	Sum string
	// Deps is the build list without the module itself: every module of
	// the module graph at its selected version, sorted by path, as
	// `go list -m all` prints it.
	Deps []Dep
}

// Dep is one module of a build list.
type Dep struct {
	module.Version
	// Direct is set for requirements in the root go.mod not marked
	// "// indirect".
	Direct bool
	// Sum is the zip's "h1:" hash from the checksum database, when known.
	Sum string
	// Replace is the module that replaces this one, if any.
	Replace *module.Version
}

type modFetcher struct {
	proxy *goproxy
	sums  *checksums
	store *cas.Store
}

func goModule(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	path, version, ok := strings.Cut(t.Ref, "@")
	if !ok || version == "" {
		return nil, &UsageError{Msg: fmt.Sprintf("target %q names no version", t.Input), Hint: "write gomod:MODULE@VERSION, for example gomod:github.com/tidwall/gjson@v1.6.5, or @latest"}
	}
	if err := module.CheckPath(path); err != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("invalid module path in %q: %v", t.Input, err)}
	}
	if module.MatchPrefixPatterns(firstNonEmpty(opts.getenv("GONOPROXY"), opts.getenv("GOPRIVATE")), path) {
		return nil, &UsageError{Msg: fmt.Sprintf("%s is private (GONOPROXY/GOPRIVATE), and customs fetches modules only through a proxy", path), Hint: "serve it from a private proxy named in GOPROXY and leave it out of GONOPROXY"}
	}
	proxies, err := proxyList(opts.getenv("GOPROXY"))
	if err != nil {
		return nil, err
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	f := &modFetcher{
		proxy: &goproxy{proxies: proxies, client: &http.Client{Transport: tr}},
		store: opts.Cache,
	}
	mod, err := f.resolve(ctx, path, version)
	if err != nil {
		return nil, err
	}
	// The checksum database is consulted only for what the cache has not
	// verified before, so a warm run needs no network.
	if f.sums, err = newChecksums(ctx, &opts, f.proxy); err != nil {
		return nil, err
	}
	dir, err := f.unpack(ctx, mod, &opts)
	if err != nil {
		return nil, err
	}
	if err := f.graph(ctx, mod); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var warnings []string
	if w := f.sums.warning(); w != "" {
		warnings = append(warnings, w)
	}
	return &Artifact{
		Target:    t,
		Dir:       dir,
		Warnings:  warnings,
		Module:    mod,
		Reference: mod.Path + "@" + mod.Version.Version,
		close:     []func() error{func() error { return os.RemoveAll(dir) }},
	}, nil
}

// resolve turns a version query into a version. Only exact versions and
// "latest" are supported.
func (f *modFetcher) resolve(ctx context.Context, path, version string) (*Module, error) {
	m := &Module{Version: module.Version{Path: path, Version: version}}
	epath, err := module.EscapePath(path)
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	var info struct {
		Version string
		Time    time.Time
	}
	var raw []byte
	switch {
	case version == "latest":
		raw, err = f.proxy.get(ctx, "/"+epath+"/@latest")
	case semver.IsValid(version) && semver.Canonical(version) == strings.TrimSuffix(version, "+incompatible") || module.IsPseudoVersion(version):
		cached, _ := f.store.Get("gomod-info", path+"@"+version)
		if cached != nil {
			raw = cached
			break
		}
		ever, verr := module.EscapeVersion(version)
		if verr != nil {
			return nil, &UsageError{Msg: verr.Error()}
		}
		raw, err = f.proxy.get(ctx, "/"+epath+"/@v/"+ever+".info")
	default:
		return nil, &UsageError{Msg: fmt.Sprintf("version %q of %s is not a canonical semantic version", version, path), Hint: "write an exact version such as v1.2.3 or latest"}
	}
	if err != nil {
		return nil, moduleErr(path+"@"+version, "resolving", err)
	}
	if err := json.Unmarshal(raw, &info); err != nil || !semver.IsValid(info.Version) {
		return nil, &ModuleError{Module: path + "@" + version, Op: "resolving", Err: fmt.Errorf("the proxy sent an invalid version info: %.100q", raw)}
	}
	if version != "latest" && info.Version != version {
		return nil, &ModuleError{Module: path + "@" + version, Op: "resolving", Err: fmt.Errorf("the proxy answered for version %s", info.Version)}
	}
	f.store.Put("gomod-info", path+"@"+info.Version, raw)
	m.Version.Version, m.Time = info.Version, info.Time
	return m, nil
}

func moduleErr(mod, op string, err error) error {
	var uerr *UsageError
	if errors.As(err, &uerr) {
		return uerr
	}
	e := &ModuleError{Module: mod, Op: op, Err: err}
	if errors.Is(err, errNotFound) {
		e.Hint = "check the module path and version; private modules need a proxy in GOPROXY that serves them"
	}
	return e
}

// goMod returns the verified go.mod of a module version.
func (f *modFetcher) goMod(ctx context.Context, m module.Version) ([]byte, error) {
	key := m.Path + " " + m.Version + "/go.mod"
	file := func() string {
		p, _ := f.store.Path("gomod", "mod", escaped(m)+".mod")
		return p
	}()
	if b, err := os.ReadFile(file); err == nil {
		if want, err := f.store.Get(f.sums.kind(m.Path), key); err == nil && hashGoMod(b) == string(want) {
			return b, nil
		}
	}
	epath, _ := module.EscapePath(m.Path)
	ever, err := module.EscapeVersion(m.Version)
	if err != nil {
		return nil, &ModuleError{Module: m.String(), Op: "fetching go.mod of", Err: err}
	}
	b, err := f.proxy.get(ctx, "/"+epath+"/@v/"+ever+".mod")
	if err != nil {
		return nil, moduleErr(m.String(), "fetching go.mod of", err)
	}
	got := hashGoMod(b)
	sums, err := f.sums.lookup(m.Path, m.Version)
	if err != nil {
		return nil, &ModuleError{Module: m.String(), Op: "verifying go.mod of", Err: err}
	}
	if want, ok := sums[m.Version+"/go.mod"]; sums != nil && (!ok || want != got) {
		return nil, &ModuleError{Module: m.String(), Op: "verifying go.mod of", Err: fmt.Errorf("%w: downloaded %s, checksum database has %s", ErrChecksumMismatch, got, want), Hint: "SECURITY ERROR: the proxy served a go.mod that differs from the one everyone else gets"}
	}
	if z := sums[m.Version]; z != "" {
		f.store.Put(sumVerified, m.Path+" "+m.Version, []byte(z))
	}
	if err := cas.WriteFile(file, b, 0o644); err != nil {
		return nil, err
	}
	f.store.Put(f.sums.kind(m.Path), key, []byte(got))
	return b, nil
}

// ErrChecksumMismatch reports module content that does not match the
// checksum database.
var ErrChecksumMismatch = errors.New("checksum mismatch")

func hashGoMod(b []byte) string {
	h, _ := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	return h
}

// unpack downloads (or finds in the cache) the module zip, verifies it and
// unpacks it into a new temporary directory.
func (f *modFetcher) unpack(ctx context.Context, m *Module, opts *Options) (string, error) {
	zipPath, err := f.store.Path("gomod", "zip", escaped(m.Version)+".zip")
	if err != nil {
		return "", err
	}
	key := m.Path + " " + m.Version.Version
	verified := false
	if want, err := f.store.Get(f.sums.kind(m.Path), key); err == nil {
		if got, err := dirhash.HashZip(zipPath, dirhash.Hash1); err == nil && got == string(want) {
			verified = true
			m.Sum = got
		}
	}
	if !verified {
		epath, _ := module.EscapePath(m.Path)
		ever, _ := module.EscapeVersion(m.Version.Version)
		opts.progress(Progress{What: "downloading " + m.Version.String()})
		b, err := f.proxy.get(ctx, "/"+epath+"/@v/"+ever+".zip")
		if err != nil {
			return "", moduleErr(m.Version.String(), "downloading", err)
		}
		opts.progress(Progress{What: "downloading " + m.Version.String(), Done: int64(len(b)), Total: int64(len(b)), Finished: true})
		tmpf, err := os.CreateTemp(filepath.Dir(zipPath), ".zip-*")
		if err != nil {
			return "", err
		}
		tmp := tmpf.Name()
		defer os.Remove(tmp)
		_, werr := tmpf.Write(b)
		if err := errors.Join(werr, tmpf.Close()); err != nil {
			return "", err
		}
		got, err := dirhash.HashZip(tmp, dirhash.Hash1)
		if err != nil {
			return "", &ModuleError{Module: m.Version.String(), Op: "reading zip of", Err: err}
		}
		sums, err := f.sums.lookup(m.Path, m.Version.Version)
		if err != nil {
			return "", &ModuleError{Module: m.Version.String(), Op: "verifying", Err: err}
		}
		if want := sums[m.Version.Version]; sums != nil && want != got {
			return "", &ModuleError{Module: m.Version.String(), Op: "verifying", Err: fmt.Errorf("%w: downloaded zip is %s, checksum database has %q", ErrChecksumMismatch, got, want), Hint: "SECURITY ERROR: the proxy served a module that differs from the one everyone else gets; it was not used"}
		}
		if _, err := modzip.CheckZip(m.Version, tmp); err != nil {
			return "", &ModuleError{Module: m.Version.String(), Op: "checking zip of", Err: err}
		}
		if err := os.Rename(tmp, zipPath); err != nil {
			return "", err
		}
		f.store.Put(f.sums.kind(m.Path), key, []byte(got))
		m.Sum = got
	}
	dir, err := os.MkdirTemp("", "customs-gomod-")
	if err != nil {
		return "", err
	}
	if err := modzip.Unzip(dir, m.Version, zipPath); err != nil {
		os.RemoveAll(dir)
		return "", &ModuleError{Module: m.Version.String(), Op: "unpacking", Err: err}
	}
	return dir, nil
}

func escaped(m module.Version) string {
	p, err := module.EscapePath(m.Path)
	if err != nil {
		p = strings.ReplaceAll(m.Path, "/", "_")
	}
	v, err := module.EscapeVersion(m.Version)
	if err != nil {
		v = "invalid"
	}
	return filepath.FromSlash(p) + "@" + v
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// modSummary is what minimal version selection needs of a go.mod.
type modSummary struct {
	goVersion string
	require   []module.Version
}

func (s modSummary) pruned() bool {
	return s.goVersion != "" && semver.Compare("v"+s.goVersion, "v1.17") >= 0
}

// graph computes the module's build list with minimal version selection,
// with module graph pruning for go 1.17 and later, as `go list -m all`
// does. Replace and exclude directives of the root go.mod apply.
func (f *modFetcher) graph(ctx context.Context, m *Module) error {
	rootMod, err := f.goMod(ctx, m.Version)
	if err != nil {
		return err
	}
	mf, err := modfile.Parse("go.mod", rootMod, nil)
	if err != nil {
		return &ModuleError{Module: m.Version.String(), Op: "parsing go.mod of", Err: err}
	}
	if mf.Go != nil {
		m.GoVersion = mf.Go.Version
	}
	replace := map[module.Version]module.Version{}
	for _, r := range mf.Replace {
		replace[r.Old] = r.New
	}
	exclude := map[module.Version]bool{}
	for _, e := range mf.Exclude {
		exclude[e.Mod] = true
	}
	replacement := func(v module.Version) (module.Version, bool) {
		if r, ok := replace[v]; ok {
			return r, true
		}
		r, ok := replace[module.Version{Path: v.Path}]
		return r, ok
	}
	direct := map[string]bool{}
	var roots []module.Version
	for _, r := range mf.Require {
		if exclude[r.Mod] {
			continue
		}
		roots = append(roots, r.Mod)
		if !r.Indirect {
			direct[r.Mod.Path] = true
		}
	}

	// Load go.mod files in waves, in parallel within a wave.
	type item struct {
		v        module.Version
		unpruned bool
	}
	seen := map[item]bool{}
	selected := map[string]string{}
	note := func(v module.Version) {
		if cur, ok := selected[v.Path]; !ok || semver.Compare(v.Version, cur) > 0 {
			selected[v.Path] = v.Version
		}
	}
	var wave []item
	rootPruned := modSummary{goVersion: m.GoVersion}.pruned()
	for _, r := range roots {
		note(r)
		wave = append(wave, item{r, !rootPruned})
	}
	for len(wave) > 0 {
		var todo []item
		for _, it := range wave {
			if !seen[it] {
				seen[it] = true
				todo = append(todo, it)
			}
		}
		summaries := make([]modSummary, len(todo))
		errs := make([]error, len(todo))
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for i, it := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				summaries[i], errs[i] = f.summary(ctx, it.v, replacement)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		wave = nil
		for i, it := range todo {
			s := summaries[i]
			for _, r := range s.require {
				if exclude[r] {
					continue
				}
				note(r)
				// A pruned module's requirements enter the graph, but their own
				// requirements are loaded only through an unpruned path.
				if it.unpruned || !s.pruned() {
					wave = append(wave, item{r, true})
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	delete(selected, m.Path)
	for p, v := range selected {
		d := Dep{Version: module.Version{Path: p, Version: v}, Direct: direct[p]}
		if r, ok := replacement(d.Version); ok {
			r := r
			d.Replace = &r
		}
		if s, err := f.store.Get(sumVerified, p+" "+v); err == nil {
			d.Sum = string(s)
		}
		m.Deps = append(m.Deps, d)
	}
	sort.Slice(m.Deps, func(i, j int) bool { return m.Deps[i].Path < m.Deps[j].Path })
	return nil
}

func (f *modFetcher) summary(ctx context.Context, v module.Version, replacement func(module.Version) (module.Version, bool)) (modSummary, error) {
	if r, ok := replacement(v); ok {
		if r.Version == "" {
			// A directory replacement is not in the module zip's reach.
			return modSummary{}, nil
		}
		v = r
	}
	b, err := f.goMod(ctx, v)
	if err != nil {
		return modSummary{}, err
	}
	mf, err := modfile.ParseLax("go.mod", b, nil)
	if err != nil {
		return modSummary{}, &ModuleError{Module: v.String(), Op: "parsing go.mod of", Err: err}
	}
	s := modSummary{}
	if mf.Go != nil {
		s.goVersion = mf.Go.Version
	}
	for _, r := range mf.Require {
		s.require = append(s.require, r.Mod)
	}
	return s, nil
}
