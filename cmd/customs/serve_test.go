package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/testimage"
)

// TestServeUsage checks that serve refuses to start without HTTPS or a
// usable policy, saying what to give.
func TestServeUsage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	os.WriteFile(good, []byte("version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nimages:\n  - pattern: x\nrules:\n  - fail-on: severe\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "needs --policy"},
		{[]string{"serve", "--policy", good}, "HTTPS only: give --tls-cert and --tls-key (or, for local use, --insecure-listen ADDR)"},
		{[]string{"serve", "--policy", good, "--insecure-listen", "127.0.0.1:0", "--tls-cert", "x"}, "does not go with --tls-cert"},
		{[]string{"serve", "--policy", bad, "--insecure-listen", "127.0.0.1:0", "--cache", "none"}, "bad.yaml:3"},
		{[]string{"serve", "--policy", good, "--insecure-listen", "127.0.0.1:0", "--cache", "redis://[::1"}, "--cache"},
	} {
		_, stderr, code := customs(t, cacheEnv(t), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// startServe runs customs serve on a free loopback port until the test
// ends, and returns its address once /readyz answers 200.
func startServe(t *testing.T, args ...string) (addr string, stop func() error, stderr *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr = l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &bytes.Buffer{}
	done := make(chan error, 1)
	args = append([]string{"serve", "--insecure-listen", addr, "--cache", filepath.Join(dir, "decisions"),
		"--db", filepath.Join(testimage.Root(), "testdata", "osv-demo")}, args...)
	go func() {
		done <- run(ctx, args, strings.NewReader(""), io.Discard, stderr,
			func(k string) string { return map[string]string{"CUSTOMS_CACHE": filepath.Join(dir, "cache")}[k] })
	}()
	stop = func() error {
		cancel()
		return <-done
	}
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + addr + "/readyz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		stop()
		t.Fatalf("/readyz: %v %v\n%s", resp, err, stderr.String())
	}
	resp.Body.Close()
	return addr, stop, stderr
}

// TestServeRuns starts the server from the CLI on loopback, asks it for a
// decision and stops it.
func TestServeRuns(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\n"), 0o644)
	addr, stop, stderr := startServe(t, "--policy", policy)
	resp, err := http.Post("http://"+addr+"/v1/check", "application/json", strings.NewReader(`{"image": "127.0.0.1:1/nothing:1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Allowed bool
		Reasons []string
	}
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.Allowed || !strings.Contains(strings.Join(d.Reasons, ""), "cannot reach the registry") {
		t.Errorf("decision on an unreachable registry: %+v", d)
	}
	if err := stop(); err != nil {
		t.Errorf("serve ended with %v\n%s", err, stderr.String())
	}
}

// TestServeExamplePolicy checks that deploy/policy.example.yaml is served
// as it is (its keyless entries need a trusted root: the public-good one).
func TestServeExamplePolicy(t *testing.T) {
	root := filepath.Join(testimage.Root(), "..", "shared", "testdata", "sigstore", "sigstore-go", "trusted-roots", "public-good.json")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("skipping: shared Sigstore data absent: %v", err)
	}
	_, stop, stderr := startServe(t, "--policy", filepath.Join(testimage.Root(), "deploy", "policy.example.yaml"), "--trusted-root", root)
	if err := stop(); err != nil {
		t.Errorf("serve ended with %v\n%s", err, stderr.String())
	}
}
