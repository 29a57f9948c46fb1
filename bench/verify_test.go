package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// counter is a reverse proxy in front of the registry that counts the
// requests a tool makes.
type counter struct {
	mu       sync.Mutex
	requests []string
}

func (c *counter) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.requests
	c.requests = nil
	return r
}

// BenchmarkVerify compares `customs verify` and `cosign verify` (v2.6.5)
// on images signed by the real cosign with a key, in a real registry
// without the referrers API, in both layouts cosign v2.6.5 writes: the
// classic .sig tag, and a Sigstore bundle in the referrers tag
// (--new-bundle-format). It reports wall time, peak RSS, and the registry
// requests each makes (counted by a proxy in front of the registry).
func BenchmarkVerify(b *testing.B) {
	cosign := os.Getenv("COSIGN")
	if cosign == "" {
		cosign, _ = exec.LookPath("cosign")
	}
	if cosign == "" {
		b.Skip("skipping: set COSIGN to a cosign v2.6.5 binary (see bench/README.md)")
	}
	reg := registrytest.Start(b, registrytest.Options{})
	target, _ := url.Parse("http://" + reg.Host)
	c := &counter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.requests = append(c.requests, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	// cosign keeps its TUF cache under HOME; it is not used with a key
	// and no log, but keep it out of the real home.
	env := []string{"HOME=" + dir, "CUSTOMS_CACHE=" + filepath.Join(dir, "cache"), "COSIGN_PASSWORD=", "COSIGN_YES=true"}
	cosignRun := func(args ...string) {
		cmd := exec.Command(cosign, args...)
		cmd.Env, cmd.Dir = append(os.Environ(), env...), dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cosignRun("generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cosign"))
	key, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	// cosign verifies the new bundle format only with a trusted root, even
	// for a key and no log: an empty one, as nothing in it is used.
	emptyRoot := filepath.Join(dir, "trusted_root.json")
	os.WriteFile(emptyRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}`), 0o644)
	tagRef := host + "/bench/tag@" + signtest.Push(b, host+"/bench/tag:1", signtest.Image(b)).String()
	bundleRef := host + "/bench/bundle@" + signtest.Push(b, host+"/bench/bundle:1", signtest.Image(b)).String()
	cosignRun("sign", "--key", key, "--tlog-upload=false", "--allow-http-registry", tagRef)
	cosignRun("sign", "--key", key, "--tlog-upload=false", "--allow-http-registry", "--new-bundle-format", bundleRef)
	c.reset()

	tools := []struct {
		name string
		args []string
		bin  string
	}{
		{"cosign-tag", []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", tagRef}, cosign},
		{"customs-tag", []string{"verify", "--key", pub, "--insecure-ignore-tlog", tagRef}, customs},
		{"cosign-bundle", []string{"verify", "--new-bundle-format", "--trusted-root", emptyRoot, "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", bundleRef}, cosign},
		{"customs-bundle", []string{"verify", "--key", pub, "--insecure-ignore-tlog", bundleRef}, customs},
	}
	results := map[string]result{}
	requests := map[string][]string{}
	for _, tool := range tools {
		// One run outside the measurement: the page cache, cosign's
		// and customs' caches are warm.
		runTool(b, env, tool.bin, tool.args...)
		c.reset()
		measure(b, results, tool.name, func(b *testing.B, i int) result {
			r := runTool(b, env, tool.bin, tool.args...)
			requests[tool.name] = c.reset()
			return r
		})
	}
	var sum strings.Builder
	fmt.Fprintf(&sum, "\n%-18s %10s %12s %9s\n", "run", "wall", "peak RSS", "requests")
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := results[n]
		fmt.Fprintf(&sum, "%-18s %10s %9.0f MiB %9d\n", n, r.wall.Round(time.Millisecond), float64(r.maxRSS)/(1<<20), len(requests[n]))
	}
	for _, layout := range []string{"tag", "bundle"} {
		co, cu := results["cosign-"+layout], results["customs-"+layout]
		fmt.Fprintf(&sum, "%s layout: cosign/customs time %.2fx; registry requests cosign %d, customs %d\n",
			layout, float64(co.wall)/float64(cu.wall), len(requests["cosign-"+layout]), len(requests["customs-"+layout]))
	}
	for _, n := range names {
		fmt.Fprintf(&sum, "%s: %s\n", n, strings.Join(requests[n], ", "))
	}
	b.Log(sum.String())
}
