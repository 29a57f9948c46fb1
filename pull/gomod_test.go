package pull

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/goproxytest"
)

func gomod(path, goVersion string, reqs ...string) string {
	s := "module " + path + "\n\ngo " + goVersion + "\n"
	for _, r := range reqs {
		s += "require " + r + "\n"
	}
	return s
}

// testModules is a graph that exercises minimal version selection and
// module graph pruning: old is at go 1.16 (unpruned), dep at go 1.21
// (pruned), so hidden stays out of the graph and deeper comes in.
func testModules() []goproxytest.Module {
	mod := func(path, version, goVersion string, reqs ...string) goproxytest.Module {
		return goproxytest.Module{Path: path, Version: version, Files: map[string]string{
			"go.mod": gomod(path, goVersion, reqs...),
			"x.go":   "package x\n",
		}}
	}
	return []goproxytest.Module{
		mod("example.com/lib", "v1.0.0", "1.21", "example.com/dep v1.1.0", "example.com/old v1.0.0"),
		mod("example.com/dep", "v1.1.0", "1.21", "example.com/pruned v1.0.0", "example.com/deep v1.1.0"),
		mod("example.com/old", "v1.0.0", "1.16", "example.com/deep v1.2.0"),
		mod("example.com/deep", "v1.1.0", "1.21"),
		mod("example.com/deep", "v1.2.0", "1.21", "example.com/deeper v1.0.0"),
		mod("example.com/deeper", "v1.0.0", "1.21"),
		mod("example.com/pruned", "v1.0.0", "1.21", "example.com/hidden v1.0.0"),
		mod("example.com/hidden", "v1.0.0", "1.21"),
	}
}

func proxyEnv(p *goproxytest.Proxy) func(string) string {
	env := map[string]string{"GOPROXY": p.URL, "GOSUMDB": p.GOSUMDB}
	return func(k string) string { return env[k] }
}

func TestModuleGraph(t *testing.T) {
	p := goproxytest.Start(t, testModules()...)
	store, _ := cas.Open(t.TempDir())
	a, err := Fetch(context.Background(), Target{Kind: GoModule, Ref: "example.com/lib@v1.0.0", Input: "gomod:example.com/lib@v1.0.0"}, Options{Cache: store, Getenv: proxyEnv(p)})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	defer a.Close()
	var got []string
	for _, d := range a.Module.Deps {
		got = append(got, d.Path+"@"+d.Version.Version)
	}
	want := []string{"example.com/deep@v1.2.0", "example.com/deeper@v1.0.0", "example.com/dep@v1.1.0", "example.com/old@v1.0.0", "example.com/pruned@v1.0.0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("build list (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(a.Dir, "x.go")); err != nil {
		t.Errorf("module not unpacked: %v", err)
	}

	// The go command is the reference for the build list.
	if _, err := exec.LookPath("go"); err == nil {
		cmd := exec.Command("go", "list", "-m", "-f", "{{if not .Main}}{{.Path}}@{{.Version}}{{end}}", "all")
		cmd.Dir = a.Dir
		cmd.Env = append(os.Environ(), "GOPROXY="+p.URL, "GOSUMDB=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOMODCACHE="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -m all: %v\n%s", err, out)
		}
		goList := strings.Fields(string(out))
		t.Logf("go list -m all: %v", goList)
		if diff := cmp.Diff(goList, got); diff != "" {
			t.Errorf("build list differs from go list -m all (-go +customs):\n%s", diff)
		}
		exec.Command("chmod", "-R", "u+w", cmd.Env[len(cmd.Env)-1][len("GOMODCACHE="):]).Run()
	}
}

func TestModuleChecksumMismatch(t *testing.T) {
	p := goproxytest.Start(t, testModules()...)
	p.Tamper["example.com/lib@v1.0.0"] = map[string]string{
		"go.mod": gomod("example.com/lib", "1.21", "example.com/dep v1.1.0", "example.com/old v1.0.0"),
		"x.go":   "package x\n\nfunc init() { /* phone home */ }\n",
	}
	store, _ := cas.Open(t.TempDir())
	_, err := Fetch(context.Background(), Target{Kind: GoModule, Ref: "example.com/lib@v1.0.0", Input: "gomod:example.com/lib@v1.0.0"}, Options{Cache: store, Getenv: proxyEnv(p)})
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Fetch of a tampered module: err = %v, want ErrChecksumMismatch", err)
	}
	// Nothing unverified may stay in the cache.
	filepath.Walk(store.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".zip") {
			t.Errorf("tampered zip kept in the cache: %s", p)
		}
		return nil
	})
}

func TestModuleWarmCacheNeedsNoNetwork(t *testing.T) {
	p := goproxytest.Start(t, testModules()...)
	store, _ := cas.Open(t.TempDir())
	target := Target{Kind: GoModule, Ref: "example.com/lib@v1.0.0", Input: "gomod:example.com/lib@v1.0.0"}
	a, err := Fetch(context.Background(), target, Options{Cache: store, Getenv: proxyEnv(p)})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	// A proxy that answers nothing: the second run must not need it.
	dead := map[string]string{"GOPROXY": "http://127.0.0.1:1", "GOSUMDB": p.GOSUMDB}
	a, err = Fetch(context.Background(), target, Options{Cache: store, Getenv: func(k string) string { return dead[k] }})
	if err != nil {
		t.Fatalf("warm Fetch with the proxy gone: %v", err)
	}
	defer a.Close()
	if len(a.Module.Deps) != 5 {
		t.Errorf("warm build list has %d modules, want 5", len(a.Module.Deps))
	}
}

func TestModuleNotFound(t *testing.T) {
	p := goproxytest.Start(t, testModules()...)
	store, _ := cas.Open(t.TempDir())
	_, err := Fetch(context.Background(), Target{Kind: GoModule, Ref: "example.com/nothere@v1.0.0", Input: "gomod:example.com/nothere@v1.0.0"}, Options{Cache: store, Getenv: proxyEnv(p)})
	var me *ModuleError
	if !errors.As(err, &me) || !errors.Is(err, errNotFound) || !strings.Contains(err.Error(), "example.com/nothere@v1.0.0") {
		t.Fatalf("Fetch of a missing module: err = %v, want a ModuleError naming it", err)
	}
}

// TestModuleRealProxy fetches a real module with dependencies through the
// real module proxy and checksum database (the one host tests may reach).
func TestModuleRealProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: reaches the module proxy")
	}
	if os.Getenv("GOPROXY") == "off" {
		t.Skip("skipping: GOPROXY=off")
	}
	store, _ := cas.Open(t.TempDir())
	a, err := Fetch(context.Background(), Target{Kind: GoModule, Ref: "github.com/tidwall/gjson@v1.6.5", Input: "gomod:github.com/tidwall/gjson@v1.6.5"}, Options{Cache: store, Getenv: os.Getenv})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	defer a.Close()
	var got []string
	for _, d := range a.Module.Deps {
		got = append(got, d.Path+"@"+d.Version.Version+" "+d.Sum)
	}
	want := []string{
		"github.com/tidwall/match@v1.0.3 h1:FQUVvBImDutD8wJLN6c5eMzWtjgONK9MwIBCOrUJKeE=",
		"github.com/tidwall/pretty@v1.0.2 h1:Z7S3cePv9Jwm1KwS0513MRaoUe3S01WPbLNV40pwWZU=",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gjson v1.6.5 module graph (-want +got):\n%s", diff)
	}
	if a.Module.Sum != "h1:P/K9r+1pt9AK54uap7HcoIp6T3a7AoMg3v18tUis+Cg=" {
		t.Errorf("gjson zip hash = %s", a.Module.Sum)
	}
}

// TestModuleUnverifiedCacheIsNotTrusted fetches a tampered module with
// checksum verification turned off, then again with it on: the hash the
// first run recorded must not pass for verified.
func TestModuleUnverifiedCacheIsNotTrusted(t *testing.T) {
	p := goproxytest.Start(t, testModules()...)
	p.Tamper["example.com/lib@v1.0.0"] = map[string]string{
		"go.mod": gomod("example.com/lib", "1.21", "example.com/dep v1.1.0", "example.com/old v1.0.0"),
		"x.go":   "package x\n\nfunc init() { /* phone home */ }\n",
	}
	store, _ := cas.Open(t.TempDir())
	target := Target{Kind: GoModule, Ref: "example.com/lib@v1.0.0", Input: "gomod:example.com/lib@v1.0.0"}
	off := map[string]string{"GOPROXY": p.URL, "GOSUMDB": "off"}
	a, err := Fetch(context.Background(), target, Options{Cache: store, Getenv: func(k string) string { return off[k] }})
	if err != nil {
		t.Fatalf("Fetch with GOSUMDB=off: %v", err)
	}
	if len(a.Warnings) == 0 || !strings.Contains(a.Warnings[0], "not verified") {
		t.Errorf("GOSUMDB=off gave no warning: %q", a.Warnings)
	}
	a.Close()
	_, err = Fetch(context.Background(), target, Options{Cache: store, Getenv: proxyEnv(p)})
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Fetch with verification back on: err = %v, want ErrChecksumMismatch", err)
	}
}

// TestModuleIgnoresSettingsGoIgnores checks that settings the go command
// does not honour (GONOSUMCHECK, -insecure in GOFLAGS) do not turn
// verification off.
func TestModuleIgnoresSettingsGoIgnores(t *testing.T) {
	p := goproxytest.Start(t, testModules()...)
	p.Tamper["example.com/lib@v1.0.0"] = map[string]string{
		"go.mod": gomod("example.com/lib", "1.21", "example.com/dep v1.1.0", "example.com/old v1.0.0"),
		"x.go":   "package x\n\nfunc init() { /* phone home */ }\n",
	}
	store, _ := cas.Open(t.TempDir())
	env := map[string]string{"GOPROXY": p.URL, "GOSUMDB": p.GOSUMDB, "GONOSUMCHECK": "1", "GOFLAGS": "-insecure"}
	_, err := Fetch(context.Background(), Target{Kind: GoModule, Ref: "example.com/lib@v1.0.0", Input: "gomod:example.com/lib@v1.0.0"}, Options{Cache: store, Getenv: func(k string) string { return env[k] }})
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
}

func TestSumDBURL(t *testing.T) {
	for _, tc := range []struct{ gosumdb, base string }{
		{"", "https://sum.golang.org"},
		{"sum.golang.google.cn", "https://sum.golang.google.cn"},
		{"sum.golang.org https://mirror.example/sumdb/", "https://mirror.example/sumdb"},
	} {
		c, err := newChecksums(context.Background(), &Options{Getenv: func(k string) string {
			if k == "GOSUMDB" {
				return tc.gosumdb
			}
			return ""
		}}, nil)
		if err != nil || c.base != tc.base {
			t.Errorf("GOSUMDB=%q: base %q, %v; want %q", tc.gosumdb, c.base, err, tc.base)
		}
	}
}
