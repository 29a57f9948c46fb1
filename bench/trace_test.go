package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// workload writes many small files and makes many loopback connections:
// a syscall-heavy Go program.
const workload = `package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

func main() {
	dir := os.Args[1]
	for i := 0; i < 20000; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprint(i%100)), []byte("x"), 0o600)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for i := 0; i < 3000; i++ {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
	}
}
`

// BenchmarkTrace measures what tracing costs a syscall-heavy Go program
// (20,000 small file writes, 3,000 loopback connections): untraced, under
// customs trace, and under strace -f, side by side. Needs root.
func BenchmarkTrace(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: customs trace needs root")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		b.Skip("skipping: strace not installed (apt-get install strace)")
	}
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", customs, "../cmd/customs").CombinedOutput(); err != nil {
		b.Fatalf("building customs: %v\n%s", err, out)
	}
	src := filepath.Join(dir, "workload")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module workload\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(workload), 0o644)
	bin := filepath.Join(dir, "workload-bin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the workload: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "files")
	os.MkdirAll(out, 0o755)
	results := map[string]result{}
	tools := []struct {
		name string
		argv []string
	}{
		{"untraced", []string{bin, out}},
		{"customs-trace", []string{customs, "trace", "-o", filepath.Join(dir, "profile.json"), "--", bin, out}},
		{"strace-f", []string{strace, "-f", "-o", "/dev/null", bin, out}},
	}
	for _, tool := range tools {
		runTool(b, nil, tool.argv[0], tool.argv[1:]...)
		measure(b, results, tool.name, func(b *testing.B, i int) result {
			return runTool(b, nil, tool.argv[0], tool.argv[1:]...)
		})
	}
	u, c, s := results["untraced"], results["customs-trace"], results["strace-f"]
	var sum strings.Builder
	for _, tool := range tools {
		r := results[tool.name]
		fmt.Fprintf(&sum, "%-14s %10s\n", tool.name, r.wall.Round(time.Millisecond))
	}
	fmt.Fprintf(&sum, "overhead: customs trace +%.0f%%, strace -f +%.0f%% (target: customs under 10%%)\n",
		100*(float64(c.wall)/float64(u.wall)-1), 100*(float64(s.wall)/float64(u.wall)-1))
	b.Log("\n" + sum.String())
}
