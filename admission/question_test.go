package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// world is a real registry whose repositories share digests, under a
// policy that mixes an allow-unsigned entry, a key-required entry and
// unmatched repositories, with a rule that decides one namespace
// differently. foreign is a host no entry covers (127.0.0.2:PORT), served
// by a listener that counts the connections it gets: there must be none.
type world struct {
	f        fixture
	reg      *registrytest.Registry
	foreign  string
	dials    *atomic.Int64
	clean    v1.Hash // unsigned in open/app and signed/app, signed in signed/good
	critical v1.Hash // a Go binary with a critical finding; signed in signed/crit
	other    v1.Hash // signed in signed/app
}

func newWorld(t *testing.T) *world {
	t.Helper()
	reg := registrytest.Start(t, registrytest.Options{})
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("skipping: cannot listen on 127.0.0.2: %v", err)
	}
	w := &world{reg: reg, foreign: l.Addr().String(), dials: new(atomic.Int64)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			w.dials.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w.f = newFixture(t, fmt.Sprintf(`version: 1
unmatched: deny
images:
  - pattern: %[1]s/open/**
    allow-unsigned: true
  - pattern: %[1]s/signed/**
    authorities: [{key: cosign.pub}]
    insecure-ignore-tlog: true
defaults:
  fail-on: critical
  unknown-severity: pass
rules:
  - namespaces: [lenient]
    ignore: [{id: GHSA-v778-237x-gjrc, reason: accepted in this namespace for the test}]
`, reg.Host))
	writeKey(t, filepath.Join(w.f.dir, "cosign.pub"), key)

	clean, other := signtest.Image(t), signtest.Image(t)
	critical := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
	push := func(repo, tag string, img v1.Image, signed bool) v1.Hash {
		repo = reg.Host + "/" + repo
		d := signtest.Push(t, repo+":"+tag, img)
		if signed {
			signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, nil)
		}
		return d
	}
	w.clean = push("open/app", "1", clean, false)
	push("signed/app", "1", clean, false)
	push("signed/good", "1", clean, true)
	w.other = push("signed/app", "2", other, true)
	push("open/app", "2", other, false)
	w.critical = push("open/crit", "1", critical, false)
	push("signed/crit", "1", critical, true)
	return w
}

// server starts a server of the world's policy over store (nil: memory
// only).
func (w *world) server(t *testing.T, store Store) *Server {
	t.Helper()
	cfg := w.f.config()
	cfg.Store = store
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// request is one question asked of the server.
type request struct{ image, namespace string }

// requests are every image the world can be asked about: each repository
// by each digest (most of which it does not hold), and by its tags, in
// the default namespace and in the lenient one.
func (w *world) requests() []request {
	var images []string
	for _, repo := range []string{"open/app", "open/crit", "signed/app", "signed/good", "signed/crit", "elsewhere/x"} {
		for _, d := range []v1.Hash{w.clean, w.critical, w.other} {
			images = append(images, w.reg.Host+"/"+repo+"@"+d.String())
		}
	}
	for _, d := range []v1.Hash{w.clean, w.critical} {
		images = append(images, w.foreign+"/evil/x@"+d.String())
	}
	for _, tag := range []string{"open/app:1", "open/app:2", "signed/app:1", "signed/app:2", "signed/good:1", "open/crit:1", "signed/crit:1"} {
		images = append(images, w.reg.Host+"/"+tag)
	}
	var out []request
	for _, img := range images {
		out = append(out, request{img, ""}, request{img, "lenient"})
	}
	return out
}

// answer is what a decision says, without where it came from or when.
func answer(d *Decision) string {
	return fmt.Sprintf("allowed=%v digest=%s reference=%s rule=%q reasons=%q warnings=%q",
		d.Allowed, d.Digest, d.Reference, d.Rule, d.Reasons, d.Warnings)
}

func checkIn(t *testing.T, h http.Handler, r request) *Decision {
	t.Helper()
	body := fmt.Sprintf(`{"image": %q, "namespace": %q}`, r.image, r.namespace)
	rec, _ := post(t, h, "/v1/check", []byte(body))
	if rec.Code != http.StatusOK {
		t.Fatalf("/v1/check %v: %d %s", r, rec.Code, rec.Body)
	}
	var d Decision
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// validateImage asks /validate whether a pod of one image may be created
// in a namespace, and returns the verdict and its message.
func validateImage(t *testing.T, h http.Handler, r request) (bool, string) {
	t.Helper()
	obj, kind := workload("Pod", r.image)
	rec, out := post(t, h, "/validate", review("q", admissionv1.Create, kind, r.namespace, obj, nil))
	if out == nil {
		t.Fatalf("/validate %v: %d %s", r, rec.Code, rec.Body)
	}
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	return out.Response.Allowed, msg
}

// TestVerdictsAreNotSharedByDigest holds the three ways a decision cached
// by digest alone opened or jammed the gate, through /v1/check and
// /validate, with the real registry and a cosign-style signature in one
// repository only.
func TestVerdictsAreNotSharedByDigest(t *testing.T) {
	w := newWorld(t)
	for _, endpoint := range []string{"/v1/check", "/validate"} {
		ask := func(t *testing.T, h http.Handler, image string) (bool, string) {
			t.Helper()
			r := request{image: image}
			if endpoint == "/validate" {
				return validateImage(t, h, r)
			}
			d := checkIn(t, h, r)
			return d.Allowed, strings.Join(d.Reasons, "; ")
		}
		t.Run(endpoint, func(t *testing.T) {
			t.Run("signature bypass", func(t *testing.T) {
				h := w.server(t, nil).Handler()
				if ok, msg := ask(t, h, w.reg.Host+"/open/app:1"); !ok {
					t.Fatalf("open/app:1 under allow-unsigned: denied: %s", msg)
				}
				// The same digest, in a repository whose entry requires a
				// signature it does not have there.
				ok, msg := ask(t, h, w.reg.Host+"/signed/app:1")
				if ok || !strings.Contains(msg, "no signature found") {
					t.Errorf("signed/app:1 (unsigned there) after open/app:1 was allowed: allowed=%v %s; want denied, no signature found", ok, msg)
				}
			})
			t.Run("unmatched registry", func(t *testing.T) {
				h := w.server(t, nil).Handler()
				if ok, msg := ask(t, h, w.reg.Host+"/signed/good:1"); !ok {
					t.Fatalf("signed/good:1: denied: %s", msg)
				}
				before := w.dials.Load()
				ok, msg := ask(t, h, w.foreign+"/evil/x@"+w.clean.String())
				if ok || !strings.Contains(msg, "image not allowed by the trust policy") {
					t.Errorf("a host no entry covers, by an allowed digest: allowed=%v %s; want denied by the trust policy", ok, msg)
				}
				if n := w.dials.Load() - before; n != 0 {
					t.Errorf("the server connected %d times to the unmatched host", n)
				}
			})
			t.Run("poisoning", func(t *testing.T) {
				dir := t.TempDir()
				open := func() Store {
					st, err := OpenBolt(dir, time.Now)
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
				s := w.server(t, open())
				// Denials of the legitimate digest under other names: a
				// foreign host, and a repository where it is not signed.
				for _, bad := range []string{w.foreign + "/evil/x@" + w.clean.String(), w.reg.Host + "/signed/app@" + w.clean.String()} {
					if ok, _ := ask(t, s.Handler(), bad); ok {
						t.Fatalf("%s: allowed", bad)
					}
				}
				good := w.reg.Host + "/signed/good@" + w.clean.String()
				if ok, msg := ask(t, s.Handler(), good); !ok {
					t.Errorf("the legitimate image after the denials: denied: %s", msg)
				}
				// Across a restart, from bbolt.
				s.Close()
				s = w.server(t, open())
				if ok, msg := ask(t, s.Handler(), good); !ok {
					t.Errorf("the legitimate image after a restart: denied: %s", msg)
				}
				if ok, _ := ask(t, s.Handler(), w.reg.Host+"/signed/app@"+w.clean.String()); ok {
					t.Errorf("signed/app by the digest signed only in signed/good: allowed after a restart")
				}
			})
		})
	}
	if w.dials.Load() != 0 {
		t.Errorf("the unmatched host got %d connections", w.dials.Load())
	}
}

// TestCacheAnswersAsAFreshServer is the property behind every cache level
// and the coalescing of concurrent requests: for random sequences of
// requests, sent one by one and in concurrent bursts, every answer equals
// the answer a fresh server with an empty decision cache gives to that
// request alone. It runs on memory, on bbolt across restarts, and on two
// replicas sharing a real Redis.
func TestCacheAnswersAsAFreshServer(t *testing.T) {
	w := newWorld(t)
	reqs := w.requests()
	want := map[request]string{}
	for _, r := range reqs {
		// Fresh in every way: no decisions, and no content or SBOMs cached.
		cfg := w.f.config()
		store, err := cas.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Pull.Cache = store
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want[r] = answer(checkIn(t, s.Handler(), r))
		s.Close()
	}
	allowed := 0
	for _, a := range want {
		if strings.HasPrefix(a, "allowed=true") {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(want) {
		t.Fatalf("%d of %d requests allowed: the world decides nothing", allowed, len(want))
	}

	// run sends a random sequence to servers (picked at random per
	// request), in bursts of up to four at once; restart, when set, is
	// called between bursts now and then.
	run := func(t *testing.T, seed uint64, servers func() []*Server, restart func()) {
		rng := mrand.New(mrand.NewPCG(seed, seed))
		for sent := 0; sent < 120; {
			if restart != nil && rng.IntN(8) == 0 {
				restart()
			}
			ss := servers()
			n := 1 + rng.IntN(4)
			burst := make([]request, n)
			for i := range burst {
				// Bursts often repeat one request, to share a scan.
				if i > 0 && rng.IntN(2) == 0 {
					burst[i] = burst[0]
				} else {
					burst[i] = reqs[rng.IntN(len(reqs))]
				}
			}
			got := make([]*Decision, n)
			var wg sync.WaitGroup
			for i, r := range burst {
				s := ss[rng.IntN(len(ss))]
				wg.Go(func() { got[i] = checkIn(t, s.Handler(), r) })
			}
			wg.Wait()
			for i, r := range burst {
				if a := answer(got[i]); a != want[r] {
					t.Errorf("seed %d, request %d: %s in namespace %q (cached: %q):\n got %s\nwant %s", seed, sent+i, r.image, r.namespace, got[i].Cached, a, want[r])
				}
			}
			sent += n
		}
	}
	hits := func(ss []*Server, level string) (n float64) {
		for _, s := range ss {
			n += testutil.ToFloat64(s.metrics.cacheHits.WithLabelValues(level))
		}
		return n
	}

	t.Run("memory", func(t *testing.T) {
		s := w.server(t, nil)
		for seed := range uint64(3) {
			run(t, seed, func() []*Server { return []*Server{s} }, nil)
		}
		if hits([]*Server{s}, "memory") == 0 {
			t.Error("no answer came from memory: the property was not exercised")
		}
	})
	t.Run("bbolt", func(t *testing.T) {
		dir := t.TempDir()
		var all []*Server
		var s *Server
		restart := func() {
			if s != nil {
				s.Close()
			}
			st, err := OpenBolt(dir, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			s = w.server(t, st)
			all = append(all, s)
		}
		restart()
		for seed := uint64(10); seed < 13; seed++ {
			run(t, seed, func() []*Server { return []*Server{s} }, restart)
		}
		if hits(all, "bbolt") == 0 {
			t.Error("no answer came from bbolt: the property was not exercised")
		}
	})
	t.Run("redis", func(t *testing.T) {
		url, _ := startRedis(t)
		var replicas []*Server
		for range 2 {
			st, err := OpenRedis(url, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, w.server(t, st))
		}
		for seed := uint64(20); seed < 23; seed++ {
			run(t, seed, func() []*Server { return replicas }, nil)
		}
		if hits(replicas, "redis") == 0 {
			t.Error("no answer came from Redis: the property was not exercised")
		}
	})
	if w.dials.Load() != 0 {
		t.Errorf("the unmatched host got %d connections", w.dials.Load())
	}
}

// TestMutateAsksNoUnmatchedRegistry: the mutating webhook pins only the
// references the trust policy covers. A tag on a host no entry covers is
// left as written, for validation to deny, without a connection to that
// host (found through the API server: the mutating webhook runs first).
func TestMutateAsksNoUnmatchedRegistry(t *testing.T) {
	w := newWorld(t)
	h := w.server(t, nil).Handler()
	obj, kind := workload("Pod", w.foreign+"/evil/x:1", w.reg.Host+"/signed/good:1")
	rec, out := post(t, h, "/mutate", review("m", admissionv1.Create, kind, "", obj, nil))
	if out == nil || !out.Response.Allowed {
		t.Fatalf("/mutate: %d %s", rec.Code, rec.Body)
	}
	patch := string(out.Response.Patch)
	if strings.Contains(patch, w.foreign) || !strings.Contains(patch, "signed/good:1@"+w.clean.String()) {
		t.Errorf("patch %s: want only signed/good:1 pinned", patch)
	}
	if n := w.dials.Load(); n != 0 {
		t.Errorf("the mutating webhook connected %d times to the unmatched host", n)
	}
}
