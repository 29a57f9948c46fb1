package admission

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
)

func writeKey(t *testing.T, path string, key *ecdsa.PrivateKey) {
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	dir, policy, db string
	cache           *cas.Store
}

func newFixture(t *testing.T, policy string) fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := cas.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{dir: dir, policy: filepath.Join(dir, "policy.yaml"), db: testimage.CriticalDB(t), cache: store}
	if err := os.WriteFile(f.policy, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) config() Config {
	return Config{
		PolicyFile:     f.policy,
		DB:             f.db,
		Pull:           pull.Options{Cache: f.cache},
		ReloadInterval: 50 * time.Millisecond,
	}
}

func check(t *testing.T, h http.Handler, image string) *Decision {
	t.Helper()
	body, _ := json.Marshal(CheckRequest{Image: image})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/check", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("/v1/check %s: %d %s", image, rec.Code, rec.Body)
	}
	var d Decision
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// TestEndToEnd decides on images in a real registry (the Distribution
// registry from Debian): signed and clean is allowed; unsigned, signed by
// the wrong key, and signed with a critical finding are denied with the
// reason; the second request for a digest is answered from the cache.
func TestEndToEnd(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := newFixture(t, fmt.Sprintf(`version: 1
images:
  - pattern: %s/**
    authorities: [{key: cosign.pub}]
    insecure-ignore-tlog: true
defaults:
  fail-on: critical
  unknown-severity: pass
`, reg.Host))
	writeKey(t, filepath.Join(f.dir, "cosign.pub"), key)

	repo := reg.Host + "/app"
	sign := func(tag string, img v1.Image, k *ecdsa.PrivateKey) v1.Hash {
		d := signtest.Push(t, repo+":"+tag, img)
		if k != nil {
			signtest.SignTag(t, repo, d, signtest.Payload(repo, d), k, nil)
		}
		return d
	}
	good := sign("good", signtest.Image(t), key)
	sign("unsigned", signtest.Image(t), nil)
	sign("wrong-key", signtest.Image(t), other)
	sign("critical", testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")}), key)

	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, tc := range []struct {
		tag     string
		allowed bool
		reason  string
	}{
		{"good", true, ""},
		{"unsigned", false, "no signature found"},
		{"wrong-key", false, "signature verification failed"},
		{"critical", false, "GHSA-v778-237x-gjrc"},
	} {
		d := check(t, h, repo+":"+tc.tag)
		if d.Allowed != tc.allowed || !strings.Contains(strings.Join(d.Reasons, "; "), tc.reason) || d.Digest == "" || d.Cached != "" {
			t.Errorf("%s: %+v; want allowed=%v with %q", tc.tag, d, tc.allowed, tc.reason)
		}
	}
	if got := testutil.ToFloat64(s.metrics.cacheHits.WithLabelValues("memory")); got != 0 {
		t.Errorf("cache hits before any repeat: %v", got)
	}
	// Again, by tag and by digest: from the cache, with the same verdict.
	for ref, allowed := range map[string]bool{repo + ":good": true, repo + "@" + good.String(): true, repo + ":critical": false} {
		d := check(t, h, ref)
		if d.Cached != "memory" || d.Allowed != allowed {
			t.Errorf("%s again: %+v; want the cached decision", ref, d)
		}
	}
	if got := testutil.ToFloat64(s.metrics.cacheHits.WithLabelValues("memory")); got != 3 {
		t.Errorf("cache hits %v, want 3", got)
	}
	if got := testutil.ToFloat64(s.metrics.scans); got != 4 {
		t.Errorf("scans %v, want 4 (one per image)", got)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`customs_admission_cache_hits_total{level="memory"} 3`, `customs_admission_decisions_total{result="denied"} 4`, `customs_admission_decisions_total{result="allowed"} 3`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The on-disk cache survives a restart: a new server with the same
	// bbolt store answers without scanning.
	s.Close()
	store, err := OpenBolt(filepath.Join(f.dir, "decisions"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.Store = store
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	check(t, s2.Handler(), repo+":good")
	s2.Close()
	store, _ = OpenBolt(filepath.Join(f.dir, "decisions"), time.Now)
	cfg.Store = store
	s3, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if d := check(t, s3.Handler(), repo+":good"); d.Cached != "bbolt" || !d.Allowed {
		t.Errorf("after a restart: %+v; want the decision from bbolt", d)
	}
	if got := testutil.ToFloat64(s3.metrics.scans); got != 0 {
		t.Errorf("the restarted server scanned %v times", got)
	}
}

// TestPolicyReload changes the policy under a running server: a valid
// change takes effect and starts new decisions; an invalid one is refused
// and the old policy stays.
func TestPolicyReload(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFixture(t, "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\n")
	img := reg.Host + "/app:1"
	signtest.Push(t, img, signtest.Image(t))
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	if d := check(t, h, img); !d.Allowed {
		t.Fatalf("allowed by the first policy: %+v", d)
	}
	waitReload := func(what, result string, n float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for testutil.ToFloat64(s.metrics.reloads.WithLabelValues(what, result)) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %s reload (%s) within 5s", what, result)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	os.WriteFile(f.policy, []byte("version: 1\nunmatched: deny\nimages:\n  - pattern: elsewhere.example/**\n    allow-unsigned: true\n"), 0o644)
	waitReload("policy", "ok", 1)
	if d := check(t, h, img); d.Allowed || d.Cached != "" || !strings.Contains(strings.Join(d.Reasons, ""), "not allowed by the trust policy") {
		t.Errorf("after the new policy: %+v; want a fresh denial", d)
	}
	os.WriteFile(f.policy, []byte("version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: yes please\n"), 0o644)
	waitReload("policy", "error", 1)
	if d := check(t, h, img); d.Allowed {
		t.Errorf("an invalid policy replaced the valid one: %+v", d)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("not ready after a refused reload: %v", err)
	}
}

// TestOneScanPerImage sends concurrent requests for an image no one has
// decided yet: they share one scan.
func TestOneScanPerImage(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFixture(t, "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\nrules:\n  - images: nowhere.example/**\n    failurePolicy: Ignore\n")
	img := reg.Host + "/app:burst"
	signtest.Push(t, img, signtest.Image(t))
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, _ := s.state.Load().policy.RuleFor("nowhere.example/x", ""); r.FailurePolicy != FailOpen {
		t.Errorf("failurePolicy: Ignore read as %q", r.FailurePolicy)
	}
	h := s.Handler()
	var wg sync.WaitGroup
	decisions := make([]*Decision, 8)
	for i := range decisions {
		wg.Go(func() { decisions[i] = check(t, h, img) })
	}
	wg.Wait()
	for _, d := range decisions {
		if !d.Allowed {
			t.Errorf("%+v", d)
		}
	}
	if got := testutil.ToFloat64(s.metrics.scans); got != 1 {
		t.Errorf("%v scans for 8 concurrent requests of one image, want 1", got)
	}
}

// TestCapabilityRule denies an image whose Go executable's dependency
// does what the rule's capabilities.txt does not grant it.
func TestCapabilityRule(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFixture(t, fmt.Sprintf("version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\nrules:\n  - images: %s/strict/**\n    capabilities: strict.txt\n", reg.Host))
	os.WriteFile(filepath.Join(f.dir, "strict.txt"), []byte("capabilities 1\nmain ALL\nexample.com/dep FILES\n"), 0o644)
	cmd := exec.Command("go", "build", "-o", filepath.Join(f.dir, "app"), ".")
	cmd.Dir = filepath.Join(testimage.Root(), "testdata", "trace", "app")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/trace/app: %v\n%s", err, out)
	}
	bin, _ := os.ReadFile(filepath.Join(f.dir, "app"))
	img := testimage.Executables(t, map[string][]byte{"usr/local/bin/app": bin})
	signtest.Push(t, reg.Host+"/strict/app:1", img)
	signtest.Push(t, reg.Host+"/lax/app:1", img)
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	d := check(t, h, reg.Host+"/strict/app:1")
	reasons := strings.Join(d.Reasons, "; ")
	if d.Allowed || !strings.Contains(reasons, "example.com/dep uses EXEC, not declared") || !strings.Contains(reasons, "example.com/dep uses NETWORK/CONNECT, not declared") {
		t.Errorf("strict: %+v", d)
	}
	if d := check(t, h, reg.Host+"/lax/app:1"); !d.Allowed {
		t.Errorf("lax (no capability rule): %+v", d)
	}
}

// TestPostureRule denies an image that breaks a posture rule its rule
// requires, with the reason, and one that carries a secret under any rule.
func TestPostureRule(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFixture(t, fmt.Sprintf("version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\nrules:\n  - images: %s/prod/**\n    posture: [root-user, attack-tool]\n", reg.Host))
	tools := testimage.Build(t, v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}}},
		testimage.Layer(t, testimage.File{Name: "usr/bin/curl", Body: "\x7fELF curl", Mode: 0o755}))
	leaky := testimage.Build(t, v1.Config{User: "10001"},
		testimage.Layer(t, testimage.File{Name: "app/key.pem", Body: testimage.PrivateKey(t)}),
		testimage.Layer(t, testimage.File{Name: "app/.wh.key.pem"}))
	signtest.Push(t, reg.Host+"/prod/tools:1", tools)
	signtest.Push(t, reg.Host+"/dev/tools:1", tools)
	signtest.Push(t, reg.Host+"/dev/leaky:1", leaky)
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	d := check(t, h, reg.Host+"/prod/tools:1")
	reasons := strings.Join(d.Reasons, "; ")
	if d.Allowed || !strings.Contains(reasons, "posture rule attack-tool is required and broken") || !strings.Contains(reasons, "/usr/bin/curl") ||
		!strings.Contains(reasons, "posture rule root-user") {
		t.Errorf("prod (posture required): %+v", d)
	}
	if d := check(t, h, reg.Host+"/dev/tools:1"); !d.Allowed {
		t.Errorf("dev (no posture rule): %+v", d)
	}
	d = check(t, h, reg.Host+"/dev/leaky:1")
	if reasons := strings.Join(d.Reasons, "; "); d.Allowed || !strings.Contains(reasons, "posture rule secret is required and broken") || !strings.Contains(reasons, "/app/key.pem") {
		t.Errorf("dev, a deleted secret: %+v", d)
	}
}
