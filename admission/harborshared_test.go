package admission

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestHarborSharedByReplicas runs two servers on one real redis-server:
// a scan posted to one is polled to completion on the other; 50
// concurrent requests for one new digest, spread over both, are one job
// and one scan; a job accepted by a third server that dies before running
// it (closed: it neither runs nor acknowledges it) is taken over by the
// others after the visibility timeout.
func TestHarborSharedByReplicas(t *testing.T) {
	schema := harborSchemas(t)
	url, _ := startRedis(t)
	const user, password = "robot", "robot-password"
	reg := registrytest.Start(t, registrytest.Options{User: user, Password: password})
	open := registrytest.Start(t, registrytest.Options{})
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	push := func(host, repo string, withAuth bool) string {
		img := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
		if !withAuth {
			return signtest.Push(t, host+"/"+repo+":1", img).String()
		}
		ref, _ := name.ParseReference(host+"/"+repo+":1", name.Insecure)
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	f := newFixture(t, "version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n")
	newServer := func() *Server { return sharedServer(t, f, url) }
	a, b := newServer(), newServer()
	post := func(s *Server, host, repo, digest, authorization string) string {
		body, _ := json.Marshal(map[string]any{
			"registry": map[string]string{"url": "http://" + host, "authorization": authorization},
			"artifact": map[string]string{"repository": repo, "digest": digest},
		})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/scan", bytes.NewReader(body)))
		if rec.Code != http.StatusAccepted {
			t.Fatalf("POST /api/v1/scan: %d %s", rec.Code, rec.Body)
		}
		var resp struct{ ID string }
		json.Unmarshal(rec.Body.Bytes(), &resp)
		return resp.ID
	}
	poll := func(s *Server, id string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/api/v1/scan/"+id+"/report", nil)
			req.Header.Set("Accept", harborVulnReport11)
			s.Handler().ServeHTTP(rec, req)
			if rec.Code == http.StatusOK {
				harborCall(t, s.Handler(), schema, "GET", "/api/v1/scan/"+id+"/report", harborVulnReport11, nil, http.StatusOK, "HarborVulnerabilityReport")
				return
			}
			if rec.Code != http.StatusFound || time.Now().After(deadline) {
				t.Fatalf("poll %s: %d %s", id, rec.Code, rec.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	scans := func() float64 { return testutil.ToFloat64(a.metrics.scans) + testutil.ToFloat64(b.metrics.scans) }

	// Posted to A, polled on B.
	id := post(a, reg.Host, "team/one", push(reg.Host, "team/one", true), auth)
	poll(b, id, time.Minute)

	// 50 at once for a new digest, half to each: one job, one scan.
	before := scans()
	digest := push(reg.Host, "team/two", true)
	ids := make([]string, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			ids[i] = post(s, reg.Host, "team/two", digest, auth)
		}()
	}
	wg.Wait()
	for _, x := range ids {
		if x != ids[0] {
			t.Fatalf("50 requests for one digest got different jobs: %v", ids)
		}
	}
	poll(a, ids[0], time.Minute)
	if n := scans() - before; n != 1 {
		t.Errorf("%v scans for 50 requests of one digest; want 1", n)
	}

	// A replica that accepts a job and dies before running it: the others
	// take it over after the visibility timeout and pull with their own
	// keychain (the credentials died with it; this registry needs none).
	c := newServer()
	c.stop() // its worker stops: it will never run or acknowledge the job
	orphan := post(c, open.Host, "team/three", push(open.Host, "team/three", false), "Basic "+base64.StdEncoding.EncodeToString([]byte("x:y")))
	start := time.Now()
	poll(b, orphan, 30*time.Second)
	t.Logf("the orphaned job was finished %s after it was accepted (visibility timeout 2 s)", time.Since(start).Round(100*time.Millisecond))

	// The registry credentials are nowhere in Redis.
	rs := a.shared.client
	ctx := context.Background()
	keys, err := rs.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	secret := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	for _, k := range keys {
		var text string
		if typ, _ := rs.Type(ctx, k).Result(); typ == "stream" {
			msgs, _ := rs.XRange(ctx, k, "-", "+").Result()
			raw, _ := json.Marshal(msgs)
			text = string(raw)
		} else {
			text, _ = rs.Get(ctx, k).Result()
		}
		if strings.Contains(text, secret) || strings.Contains(text, password) {
			t.Errorf("Redis key %s holds the registry credentials", k)
		}
	}
}

// TestHarborJobsSurviveRedisRestart: Redis (append-only, fsync always) is
// killed right after a job was accepted and started again in the same
// directory: the job is finished and its report polled on the other
// replica.
func TestHarborJobsSurviveRedisRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	stop := runRedisIn(t, port, dir, true)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	reg := registrytest.Start(t, registrytest.Options{})
	img := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
	digest := signtest.Push(t, reg.Host+"/app:1", img).String()
	f := newFixture(t, "version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n")
	newServer := func() *Server { return sharedServer(t, f, url) }
	a, b := newServer(), newServer()
	body, _ := json.Marshal(map[string]any{
		"registry": map[string]string{"url": "http://" + reg.Host},
		"artifact": map[string]string{"repository": "app", "digest": digest},
	})
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/scan", bytes.NewReader(body)))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	var resp struct{ ID string }
	json.Unmarshal(rec.Body.Bytes(), &resp)
	// The test means something only if the job is not finished yet.
	if j, _ := a.shared.get(context.Background(), resp.ID); j == nil || j.State == "done" {
		t.Fatalf("the job is %+v before Redis stops; want it queued or running", j)
	}
	stop()
	time.Sleep(300 * time.Millisecond)
	runRedisIn(t, port, dir, true)
	deadline := time.Now().Add(time.Minute)
	for {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/scan/"+resp.ID+"/report", nil)
		req.Header.Set("Accept", harborVulnReport11)
		b.Handler().ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			if !strings.Contains(rec.Body.String(), "github.com/tidwall/gjson") {
				t.Errorf("the report lacks the findings: %s", rec.Body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job accepted before the restart was not finished within a minute: %d %s", rec.Code, rec.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sharedServer is a server whose decisions and Harbor jobs are in Redis,
// with a visibility timeout of 2 s.
func sharedServer(t *testing.T, f fixture, url string) *Server {
	t.Helper()
	store, err := OpenRedis(url, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.Store, cfg.HarborVisibility = store, 2*time.Second
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSharedHarborReportsFollowTheDatabase: a report kept in Redis is
// matched again when a new advisory lands in the database, once, and
// the other replica's poll shows it.
func TestSharedHarborReportsFollowTheDatabase(t *testing.T) {
	url, _ := startRedis(t)
	reg := registrytest.Start(t, registrytest.Options{})
	digest := signtest.Push(t, reg.Host+"/app:1", testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})).String()
	f := newFixture(t, "version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n")
	critical := filepath.Join(f.db, "GHSA-v778-237x-gjrc.json")
	record, err := os.ReadFile(critical)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(critical)
	a, b := sharedServer(t, f, url), sharedServer(t, f, url)
	body, _ := json.Marshal(map[string]any{
		"registry": map[string]string{"url": "http://" + reg.Host},
		"artifact": map[string]string{"repository": "app", "digest": digest},
	})
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/scan", bytes.NewReader(body)))
	var resp struct{ ID string }
	json.Unmarshal(rec.Body.Bytes(), &resp)
	report := func() (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/scan/"+resp.ID+"/report", nil)
		req.Header.Set("Accept", harborVulnReport11)
		b.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, text := report()
		if code == http.StatusOK {
			if strings.Contains(text, "GHSA-v778-237x-gjrc") {
				t.Fatal("the advisory is in the report before it is in the database")
			}
			break
		}
		if code != http.StatusFound || time.Now().After(deadline) {
			t.Fatalf("report: %d %s", code, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.WriteFile(critical, record, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, text := report(); strings.Contains(text, "GHSA-v778-237x-gjrc") && strings.Contains(text, `"severity":"Critical"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the shared report did not follow the new database within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
