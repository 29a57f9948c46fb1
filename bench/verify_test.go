package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
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

	"github.com/sigstore/sigstore-go/pkg/sign"

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
// on one image signed with a key the classic cosign way, in a real
// registry: wall time, peak RSS, and the registry requests each makes
// (counted by a proxy in front of the registry). customs' count for an
// image signed the cosign v3 way (a bundle referrer) is reported beside.
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
	if out, err := exec.Command("go", "build", "-trimpath", "-o", customs, "../cmd/customs").CombinedOutput(); err != nil {
		b.Fatalf("building customs: %v\n%s", err, out)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := filepath.Join(dir, "cosign.pub")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)

	repo := host + "/bench/app"
	d := signtest.Push(b, repo+":1", signtest.Image(b))
	signtest.SignTag(b, repo, d, signtest.Payload(repo, d), key, nil)

	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		b.Fatal(err)
	}
	kpPEM, err := kp.GetPublicKeyPem()
	if err != nil {
		b.Fatal(err)
	}
	refPub := filepath.Join(dir, "referrer.pub")
	os.WriteFile(refPub, []byte(kpPEM), 0o644)
	refRepo := host + "/bench/v3"
	img := signtest.Image(b)
	signtest.Push(b, refRepo+":1", img)
	raw, _ := img.RawManifest()
	signtest.Referrer(b, refRepo, img, &sign.PlainData{Data: raw}, kp, "")
	c.reset()

	// cosign keeps its TUF cache under HOME; it is not used with a key
	// and no log, but keep it out of the real home.
	env := []string{"HOME=" + dir, "CUSTOMS_CACHE=" + filepath.Join(dir, "cache")}
	tools := []struct {
		name string
		args []string
		bin  string
	}{
		{"cosign", []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", repo + ":1"}, cosign},
		{"customs", []string{"verify", "--key", pub, "--insecure-ignore-tlog", repo + ":1"}, customs},
		{"customs-referrer", []string{"verify", "--key", refPub, "--insecure-ignore-tlog", refRepo + ":1"}, customs},
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
	co, cu := results["cosign"], results["customs"]
	fmt.Fprintf(&sum, "cosign/customs time %.2fx; registry requests cosign %d, customs %d (referrer scheme: %d)\n",
		float64(co.wall)/float64(cu.wall), len(requests["cosign"]), len(requests["customs"]), len(requests["customs-referrer"]))
	for _, n := range names {
		fmt.Fprintf(&sum, "%s: %s\n", n, strings.Join(requests[n], ", "))
	}
	b.Log(sum.String())
}
