package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestHarborReplicas runs two `customs serve` processes on one real
// redis-server (append-only, fsync always): a scan posted to A is polled
// to completion on B; 50 concurrent requests for a new digest over both
// are one job and one scan; Redis killed and restarted right after a job
// was accepted loses it not; and, behind a registry slowed by a proxy so
// that a scan takes seconds, a job running on A when A gets SIGKILL is
// taken over by B after the visibility timeout.
func TestHarborReplicas(t *testing.T) {
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Skip("skipping: /usr/bin/redis-server not found (apt-get install redis-server; .ci/run does)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "customs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building customs: %v\n%s", err, out)
	}
	redisPort := freeTCPPort(t)
	startRedis := func() *exec.Cmd {
		rs := exec.Command("/usr/bin/redis-server", "--port", fmt.Sprint(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir)
		if err := rs.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Process.Kill(); rs.Wait() })
		for i := 0; i < 200; i++ {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", redisPort)); err == nil {
				c.Close()
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		return rs
	}
	rs := startRedis()

	reg := registrytest.Start(t, registrytest.Options{})
	target, _ := url.Parse("http://" + reg.Host)
	rp := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		rp.ServeHTTP(w, r)
	}))
	defer slow.Close()
	host := strings.TrimPrefix(slow.URL, "http://")
	digest := signtest.Push(t, reg.Host+"/app:1", testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": goappBinary(t)}))

	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte("version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n"), 0o644)
	db := testimage.CriticalDB(t)
	serve := func(name string) (*exec.Cmd, string) {
		port := freeTCPPort(t)
		cmd := exec.Command(bin, "serve", "--policy", policy, "--db", db, "--cache", fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort),
			"--insecure-listen", fmt.Sprintf("127.0.0.1:%d", port), "--harbor-visibility-timeout", "2s")
		cmd.Env = append(os.Environ(), "CUSTOMS_CACHE="+filepath.Join(dir, name))
		log, _ := os.Create(filepath.Join(dir, name+".log"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		for i := 0; ; i++ {
			resp, err := http.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd, base
				}
			}
			if i > 300 {
				b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
				t.Fatalf("customs serve %s did not get ready:\n%s", name, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	a, baseA := serve("a")
	_, baseB := serve("b")
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort)})
	defer rc.Close()
	post := func(base, registry, repo, digest string) string {
		body, _ := json.Marshal(map[string]any{
			"registry": map[string]string{"url": "http://" + registry},
			"artifact": map[string]string{"repository": repo, "digest": digest},
		})
		resp, err := http.Post(base+"/api/v1/scan", "application/vnd.scanner.adapter.scan.request+json; version=1.1", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var accepted struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&accepted)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || accepted.ID == "" {
			t.Fatalf("POST /api/v1/scan: %d", resp.StatusCode)
		}
		return accepted.ID
	}
	report := func(base, id string) (int, string) {
		req, _ := http.NewRequest("GET", base+"/api/v1/scan/"+id+"/report", nil)
		req.Header.Set("Accept", "application/vnd.security.vulnerability.report; version=1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	wait := func(base, id string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			code, text := report(base, id)
			if code == http.StatusOK {
				if !strings.Contains(text, "github.com/tidwall/gjson") {
					t.Fatalf("the report lacks the findings: %s", text)
				}
				return
			}
			if code != http.StatusFound || time.Now().After(deadline) {
				t.Fatalf("report %s: %d %s", id, code, text)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	scans := func() float64 {
		n := 0.0
		for _, base := range []string{baseA, baseB} {
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				continue
			}
			b := new(bytes.Buffer)
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(b.String(), "\n") {
				var v float64
				if strings.HasPrefix(line, "customs_admission_scans_total ") {
					fmt.Sscan(strings.TrimPrefix(line, "customs_admission_scans_total "), &v)
					n += v
				}
			}
		}
		return n
	}
	pushNew := func(repo string) string {
		img := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": goappBinary(t), "etc/" + repo: []byte(repo)})
		return signtest.Push(t, reg.Host+"/"+repo+":1", img).String()
	}

	// Posted to A, polled on B.
	wait(baseB, post(baseA, reg.Host, "app", digest.String()))

	// 50 concurrent requests for a new digest over both processes: one
	// job, one scan.
	before := scans()
	d2 := pushNew("burst")
	ids := make([]string, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := baseA
			if i%2 == 1 {
				base = baseB
			}
			ids[i] = post(base, reg.Host, "burst", d2)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("50 requests for one digest made several jobs: %v", ids)
		}
	}
	wait(baseA, ids[0])
	if n := scans() - before; n != 1 {
		t.Errorf("%v scans for 50 requests of one digest over two processes; want 1", n)
	}

	// Redis killed right after a job is accepted, and started again.
	d3 := pushNew("restart")
	id3 := post(baseA, reg.Host, "restart", d3)
	// The step means something only if the job is not finished yet.
	if rec, _ := rc.Get(context.Background(), "customs:harbor:job:"+id3).Result(); rec == "" || strings.Contains(rec, `"state":"done"`) {
		t.Fatalf("the job before Redis stops: %q; want it queued or running", rec)
	}
	rs.Process.Kill()
	rs.Wait()
	startRedis()
	wait(baseB, id3)

	// A job running on A when A is killed.
	accepted := struct{ ID string }{post(baseA, host, "app", digest.String())}
	if accepted.ID == "" {
		t.Fatal("no id")
	}

	// Kill A once it runs the job.
	for i := 0; ; i++ {
		rec, _ := rc.Get(context.Background(), "customs:harbor:job:"+accepted.ID).Result()
		if strings.Contains(rec, `"state":"running"`) {
			break
		}
		if strings.Contains(rec, `"state":"done"`) || i > 400 {
			t.Fatalf("the job did not stay running long enough to kill its replica: %s", rec)
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Now()
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	wait(baseB, accepted.ID)
	t.Logf("B finished the job %s after A was killed (visibility timeout 2 s)", time.Since(killed).Round(100*time.Millisecond))
}
