package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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
	"github.com/customs-dev/customs/internal/testimage"
)

func loopbackPort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// BenchmarkHarbor is Harbor's flow under load: two `customs serve`
// replicas on one redis-server, 200 scan requests for 20 distinct images
// (each a Go program with its own layer), spread over both, all polled to
// their reports. It reports the total time, the scans run (20 when the
// replicas share the work), the p99 latency of a report poll once the
// report is ready, and each replica's peak RSS.
//
//	go test ./bench -run XXX -bench Harbor -benchtime 1x
func BenchmarkHarbor(b *testing.B) {
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		b.Skip("skipping: /usr/bin/redis-server not found (apt-get install redis-server)")
	}
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	reg := registrytest.Start(b, registrytest.Options{})
	bin := testimage.GoBinary(b, "amd64")
	var digests []string
	for i := 0; i < 20; i++ {
		img := testimage.Executables(b, map[string][]byte{"usr/local/bin/goapp": bin, fmt.Sprintf("etc/image-%d", i): []byte(fmt.Sprint(i))})
		digests = append(digests, signtest.Push(b, fmt.Sprintf("%s/app%d:1", reg.Host, i), img).String())
	}
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte("version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n"), 0o644)
	db := testimage.CriticalDB(b)

	for i := 0; i < b.N; i++ {
		redisPort := loopbackPort(b)
		rs := exec.Command("/usr/bin/redis-server", "--port", fmt.Sprint(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", b.TempDir())
		if err := rs.Start(); err != nil {
			b.Fatal(err)
		}
		var procs []*exec.Cmd
		var bases []string
		for r := 0; r < 2; r++ {
			port := loopbackPort(b)
			cmd := exec.Command(customs, "serve", "--policy", policy, "--db", db, "--cache", fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort),
				"--insecure-listen", fmt.Sprintf("127.0.0.1:%d", port), "--max-scans", "2")
			cmd.Env = append(os.Environ(), "CUSTOMS_CACHE="+b.TempDir())
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			procs = append(procs, cmd)
			bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", port))
		}
		for _, base := range bases {
			for k := 0; ; k++ {
				if resp, err := http.Get(base + "/readyz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
				if k > 400 {
					b.Fatal("a replica did not get ready")
				}
				time.Sleep(25 * time.Millisecond)
			}
		}

		start := time.Now()
		var mu sync.Mutex
		var readyLatencies []time.Duration
		var wg sync.WaitGroup
		for n := 0; n < 200; n++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				base := bases[n%2]
				body, _ := json.Marshal(map[string]any{
					"registry": map[string]string{"url": "http://" + reg.Host},
					"artifact": map[string]string{"repository": fmt.Sprintf("app%d", n%20), "digest": digests[n%20]},
				})
				resp, err := http.Post(base+"/api/v1/scan", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				var acc struct{ ID string }
				json.NewDecoder(resp.Body).Decode(&acc)
				resp.Body.Close()
				// Poll the other replica, as Harbor's requests land anywhere.
				poll := bases[(n+1)%2] + "/api/v1/scan/" + acc.ID + "/report"
				for {
					req, _ := http.NewRequest("GET", poll, nil)
					req.Header.Set("Accept", "application/vnd.security.vulnerability.report; version=1.1")
					t0 := time.Now()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						readyLatencies = append(readyLatencies, time.Since(t0))
						mu.Unlock()
						return
					}
					if resp.StatusCode != http.StatusFound {
						b.Errorf("report: %d", resp.StatusCode)
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		total := time.Since(start)
		scans := 0.0
		for _, base := range bases {
			scans += metric(b, base, "customs_admission_scans_total")
		}
		var rss []string
		for _, p := range procs {
			rss = append(rss, fmt.Sprintf("%.0f MiB", float64(peakRSS(p.Process.Pid))/1024))
			p.Process.Kill()
			p.Wait()
		}
		rs.Process.Kill()
		rs.Wait()
		sort.Slice(readyLatencies, func(i, j int) bool { return readyLatencies[i] < readyLatencies[j] })
		p99 := readyLatencies[len(readyLatencies)*99/100]
		b.ReportMetric(total.Seconds(), "s-total")
		b.ReportMetric(scans, "scans")
		fmt.Printf("harbor: 200 requests, 20 images, 2 replicas: %s total, %.0f scans, p99 report latency once ready %s, peak RSS %s\n",
			total.Round(10*time.Millisecond), scans, p99.Round(100*time.Microsecond), strings.Join(rss, ", "))
	}
}

// metric reads a counter from a replica's /metrics.
func metric(b *testing.B, base, name string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var v float64
		if strings.HasPrefix(sc.Text(), name+" ") {
			fmt.Sscan(strings.TrimPrefix(sc.Text(), name+" "), &v)
			return v
		}
	}
	return 0
}

// peakRSS is a process's peak resident set (VmHWM), in KiB.
func peakRSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmHWM:"), "kB")), &kb)
			return kb
		}
	}
	return 0
}
