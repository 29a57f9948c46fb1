package admission

import (
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

const redisBinary = "/usr/bin/redis-server"

// startRedis runs redis-server on a free loopback port, without
// persistence, until stop is called or the test ends.
func startRedis(t *testing.T) (url string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), runRedis(t, port)
}

// runRedis runs redis-server on a loopback port until stop is called or
// the test ends.
func runRedis(t *testing.T, port int) (stop func()) {
	t.Helper()
	return runRedisIn(t, port, t.TempDir(), false)
}

// runRedisIn runs redis-server with its files in dir; persistent turns on
// the append-only file, fsynced at every write, so that a restart in the
// same dir keeps everything acknowledged.
func runRedisIn(t *testing.T, port int, dir string, persistent bool) (stop func()) {
	t.Helper()
	if _, err := os.Stat(redisBinary); err != nil {
		t.Skipf("skipping: %s not found (apt-get install redis-server; .ci/run does)", redisBinary)
	}
	aof := []string{"--appendonly", "no"}
	if persistent {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	cmd := exec.Command(redisBinary, append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir}, aof...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-done
		})
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("redis-server did not listen on %d", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop
}

// TestRedisSharedCache runs two servers on one real Redis: each reuses the
// other's decisions. When Redis goes away they go on deciding from their
// local caches, and say so.
func TestRedisSharedCache(t *testing.T) {
	url, stopRedis := startRedis(t)
	reg := registrytest.Start(t, registrytest.Options{})
	f := newFixture(t, "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\n")
	for _, tag := range []string{"a", "b", "c"} {
		signtest.Push(t, reg.Host+"/app:"+tag, signtest.Image(t))
	}
	newServer := func() *Server {
		store, err := OpenRedis(url, 250*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.config()
		cfg.Store = store
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	one, two := newServer(), newServer()
	if d := check(t, one.Handler(), reg.Host+"/app:a"); !d.Allowed || d.Cached != "" {
		t.Fatalf("first decision: %+v", d)
	}
	if d := check(t, two.Handler(), reg.Host+"/app:a"); !d.Allowed || d.Cached != "redis" {
		t.Errorf("the second server did not reuse the first's decision: %+v", d)
	}
	check(t, two.Handler(), reg.Host+"/app:b")
	if d := check(t, one.Handler(), reg.Host+"/app:b"); d.Cached != "redis" {
		t.Errorf("the first server did not reuse the second's decision: %+v", d)
	}
	if testutil.ToFloat64(one.metrics.scans)+testutil.ToFloat64(two.metrics.scans) != 2 {
		t.Errorf("scans: %v + %v, want one per image", testutil.ToFloat64(one.metrics.scans), testutil.ToFloat64(two.metrics.scans))
	}

	stopRedis()
	// Known images from memory, new ones by scanning; nothing fails.
	if d := check(t, one.Handler(), reg.Host+"/app:a"); !d.Allowed || d.Cached != "memory" {
		t.Errorf("with Redis gone, a known image: %+v", d)
	}
	if d := check(t, one.Handler(), reg.Host+"/app:c"); !d.Allowed {
		t.Errorf("with Redis gone, a new image: %+v", d)
	}
	if !one.cache.Degraded() || testutil.ToFloat64(one.metrics.storeUp) != 0 || testutil.ToFloat64(one.metrics.storeErrors.WithLabelValues("redis")) == 0 {
		t.Errorf("the server does not say Redis is gone: degraded=%v up=%v", one.cache.Degraded(), testutil.ToFloat64(one.metrics.storeUp))
	}
	rec := httptest.NewRecorder()
	one.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "shared decision cache is unavailable") {
		t.Errorf("/readyz with Redis gone: %d %s", rec.Code, rec.Body)
	}
}
