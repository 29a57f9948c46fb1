package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// TestTraceKillsTheBackdoor drives customs trace on the reverse-shell
// program: with a declaration that does not grant NETWORK to the
// dependency and --on-violation kill, it is killed at the connect, the
// shell never writes its marker, and customs exits 1 naming the module.
func TestTraceKillsTheBackdoor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: customs trace needs root (CI runs it as root)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dir := t.TempDir()
	bin := filepath.Join(dir, "revshell")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(testimage.Root(), "testdata", "trace", "revshell")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/trace/revshell: %v\n%s", err, out)
	}
	decl := filepath.Join(dir, "capabilities.txt")
	os.WriteFile(decl, []byte("capabilities 1\non-violation kill\nmain ALL\nexample.com/backdoor FILES\n"), 0o644)
	marker, profile := filepath.Join(dir, "marker"), filepath.Join(dir, "profile.json")
	stdout, stderr, code := customs(t, cacheEnv(t), "trace", "-o", profile, "--declared", decl, "--", bin, ln.Addr().String(), marker)
	if strings.Contains(stderr, "eBPF tracing is unavailable") {
		t.Skipf("skipping: %s", stderr)
	}
	if code != 1 || !strings.Contains(stderr, "VIOLATION: example.com/backdoor NETWORK/CONNECT") || !strings.Contains(stderr, "killed") {
		t.Errorf("exit %d, want 1 and the backdoor killed\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the shell ran: the marker was written")
	}
	// The profile it wrote proposes a declaration and checks against one.
	if stdout, stderr, code := customs(t, cacheEnv(t), "caps", "check", "--declared", decl, "--profile", profile); code != 1 || !strings.Contains(stdout, "NOT DECLARED: example.com/backdoor NETWORK/CONNECT") {
		t.Errorf("caps check --profile: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, _, code := customs(t, cacheEnv(t), "caps", "init", "--from-profile", profile); code != 0 || !strings.Contains(stdout, "example.com/backdoor") || !strings.Contains(stdout, "NETWORK/CONNECT") {
		t.Errorf("caps init --from-profile: exit %d\n%s", code, stdout)
	}
}
