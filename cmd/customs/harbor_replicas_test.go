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

// TestHarborReplicaKilled runs two `customs serve` processes on one real
// redis-server, behind a registry slowed by a proxy so that a scan takes
// seconds: a Harbor scan posted to A is running on A when A is killed
// (SIGKILL); B takes the job over after the visibility timeout and its
// report is polled on B.
func TestHarborReplicaKilled(t *testing.T) {
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Skip("skipping: /usr/bin/redis-server not found (apt-get install redis-server; .ci/run does)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "customs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building customs: %v\n%s", err, out)
	}
	redisPort := freeTCPPort(t)
	rs := exec.Command("/usr/bin/redis-server", "--port", fmt.Sprint(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Process.Kill(); rs.Wait() })

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

	body, _ := json.Marshal(map[string]any{
		"registry": map[string]string{"url": "http://" + host},
		"artifact": map[string]string{"repository": "app", "digest": digest.String()},
	})
	resp, err := http.Post(baseA+"/api/v1/scan", "application/vnd.scanner.adapter.scan.request+json; version=1.1", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var accepted struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || accepted.ID == "" {
		t.Fatalf("POST /api/v1/scan: %d", resp.StatusCode)
	}

	// Kill A once it runs the job.
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort)})
	defer rc.Close()
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

	for {
		req, _ := http.NewRequest("GET", baseB+"/api/v1/scan/"+accepted.ID+"/report", nil)
		req.Header.Set("Accept", "application/vnd.security.vulnerability.report; version=1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if !strings.Contains(b.String(), "github.com/tidwall/gjson") {
				t.Errorf("B's report lacks the findings: %s", b)
			}
			t.Logf("B finished the job %s after A was killed (visibility timeout 2 s)", time.Since(killed).Round(100*time.Millisecond))
			return
		}
		if resp.StatusCode != http.StatusFound || time.Since(killed) > 60*time.Second {
			log, _ := os.ReadFile(filepath.Join(dir, "b.log"))
			t.Fatalf("report on B: %d %s\n%s", resp.StatusCode, b, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
