// Package registrytest runs a real container registry (the Distribution
// registry from Debian's docker-registry package) on loopback for tests.
package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is where Debian installs the registry.
const Binary = "/usr/bin/docker-registry"

// Registry is a running registry.
type Registry struct {
	// Host is 127.0.0.1:PORT.
	Host string
}

// Options configure Start.
type Options struct {
	// User and Password, when set, turn on htpasswd authentication.
	User, Password string
	// Notify, when set, is a notification endpoint (a URL) the registry
	// posts its events to, with NotifyToken as a bearer token.
	Notify, NotifyToken string
}

// Start runs a registry until the test ends. It skips the test when the
// registry is not installed (.ci/run installs it).
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("skipping: %s not found (apt-get install docker-registry; .ci/run does)", Binary)
	}
	dir := t.TempDir()
	port := freePort(t)
	auth := ""
	if opts.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: customs-test\n    path: %s\n", htpasswd)
	}
	if opts.Notify != "" {
		auth += fmt.Sprintf("notifications:\n  endpoints:\n    - name: customs\n      url: %s\n      timeout: 2s\n      threshold: 3\n      backoff: 200ms\n", opts.Notify)
		if opts.NotifyToken != "" {
			auth += fmt.Sprintf("      headers:\n        Authorization: [Bearer %s]\n", opts.NotifyToken)
		}
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
%s`, filepath.Join(dir, "data"), port, auth)
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary, "serve", cfg)
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", Binary, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port)}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("registry on %s did not start: %v\n%s", r.Host, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
