package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestCapsPullFlags: customs caps reads an image in a registry as scan
// does, with the same pulling flags: the Go executable in it is analysed,
// an image over --max-layers is refused, and a plain-HTTP registry on a
// name that is not loopback is reached only when --insecure-registry
// names it.
func TestCapsPullFlags(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, ".")
	build.Dir = filepath.Join(testimage.Root(), "testdata", "trace", "app")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/trace/app: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	push(t, reg.Host+"/caps/app:1", testimage.Executables(t, map[string][]byte{"usr/bin/app": b}), nil)

	env := cacheEnv(t)
	stdout, stderr, code := customs(t, env, "caps", "analyze", reg.Host+"/caps/app:1")
	if code != 0 || !strings.Contains(stdout, "EXEC") {
		t.Fatalf("caps analyze of the image: exit %d, want 0 and the executable's EXEC\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// A limit the image breaks: refused, and the message names the flag.
	_, stderr, code = customs(t, cacheEnv(t), "caps", "analyze", "--max-image-size", "1KiB", reg.Host+"/caps/app:1")
	if code != 2 || !strings.Contains(stderr, "--max-image-size") || strings.Contains(stderr, "unknown flag") {
		t.Errorf("caps analyze --max-image-size 1KiB: exit %d, want 2 with a message naming --max-image-size\n%s", code, stderr)
	}

	// The same registry by a name that is not a loopback address, when
	// this machine has one for itself.
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 || !net.ParseIP(addrs[0]).IsLoopback() {
		t.Skipf("the host name %q does not resolve to a loopback address (%v, %v): the insecure-registry half needs one", host, addrs, err)
	}
	_, port, _ := net.SplitHostPort(reg.Host)
	named := net.JoinHostPort(host, port)
	_, stderr, code = customs(t, cacheEnv(t), "caps", "analyze", named+"/caps/app:1")
	if code != 2 || !strings.Contains(stderr, "https://"+named) || !strings.Contains(stderr, "--insecure-registry") {
		t.Errorf("caps analyze %s without --insecure-registry: exit %d, want 2, refused with the flag to pass\n%s", named, code, stderr)
	}
	stdout, stderr, code = customs(t, cacheEnv(t), "caps", "analyze", "--insecure-registry", named, named+"/caps/app:1")
	if code != 0 || !strings.Contains(stdout, "EXEC") {
		t.Errorf("caps analyze --insecure-registry %s: exit %d, want 0 and EXEC\nstdout:\n%s\nstderr:\n%s", named, code, stdout, stderr)
	}
}
