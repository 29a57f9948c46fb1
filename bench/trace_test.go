package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// workload writes many small files and makes many loopback connections:
// a syscall-heavy Go program. Its second argument multiplies both counts.
const workload = `package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

func main() {
	dir := os.Args[1]
	scale := 1
	if len(os.Args) > 2 {
		fmt.Sscan(os.Args[2], &scale)
	}
	for i := 0; i < 20000*scale; i++ {
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
	for i := 0; i < 3000*scale; i++ {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
	}
}
`

// BenchmarkTrace measures what tracing costs a syscall-heavy Go program,
// untraced, under customs trace and under strace -f, side by side. Each
// of b.N rounds runs every tool once, interleaved, and the medians are
// compared: this VM's speed drifts over minutes. Two sizes:
//   - short: 20,000 small file writes and 3,000 loopback connections
//     (about 0.5 s), where customs' fixed start-up weighs most;
//   - long: ten times as many (about 5 s); strace is left out, it takes
//     minutes there. Beside it runs the floor: the workload with a BPF
//     program on sys_enter that does nothing (bench/sysenterfloor), what
//     any tracer hooked there pays before doing any work.
//
// The files go to /dev/shm where it exists: on this VM's disk the same
// untraced run took from 2.3 to 6 s. Needs root.
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
	buildCustoms(b, customs)
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
	// The floor: a program on sys_enter that does nothing, loaded by a
	// small binary (no customs start-up).
	floor := filepath.Join(dir, "sysenterfloor")
	if out, err := exec.Command("go", "build", "-o", floor, "./sysenterfloor").CombinedOutput(); err != nil {
		b.Fatalf("building sysenterfloor: %v\n%s", err, out)
	}
	out := dir
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if out, err = os.MkdirTemp("/dev/shm", "customs-bench"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(out)
	}
	profile := filepath.Join(dir, "profile.json")
	type run struct {
		name string
		argv []string
	}
	runs := []run{
		{"short/untraced", []string{bin, out, "1"}},
		{"short/customs-trace", []string{customs, "trace", "-o", profile, "--", bin, out, "1"}},
		{"short/strace-f", []string{strace, "-f", "-o", "/dev/null", bin, out, "1"}},
		{"long/untraced", []string{bin, out, "10"}},
		{"long/customs-trace", []string{customs, "trace", "-o", profile, "--", bin, out, "10"}},
		{"long/noop-sys_enter", []string{floor, bin, out, "10"}},
		{"startup/customs-trace-true", []string{customs, "trace", "-o", profile, "--", "/bin/true"}},
	}
	for _, r := range runs {
		runTool(b, nil, r.argv[0], r.argv[1:]...) // warm the page cache
	}
	walls := map[string][]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for _, r := range runs {
			walls[r.name] = append(walls[r.name], runTool(b, nil, r.argv[0], r.argv[1:]...).wall)
		}
	}
	b.StopTimer()
	median := map[string]time.Duration{}
	var sum strings.Builder
	for _, r := range runs {
		w := walls[r.name]
		slices.Sort(w)
		median[r.name] = w[len(w)/2]
		b.ReportMetric(float64(median[r.name].Milliseconds()), r.name+"-ms")
		fmt.Fprintf(&sum, "%-28s median %8s of %v\n", r.name, median[r.name].Round(time.Millisecond), roundAll(w))
	}
	over := func(traced, untraced string) float64 {
		return 100 * (float64(median[traced])/float64(median[untraced]) - 1)
	}
	fmt.Fprintf(&sum, "short: customs trace +%.0f%%, strace -f +%.0f%%\n", over("short/customs-trace", "short/untraced"), over("short/strace-f", "short/untraced"))
	fmt.Fprintf(&sum, "long:  customs trace +%.0f%% (target: under 10%%); a sys_enter program that does nothing +%.0f%%\n",
		over("long/customs-trace", "long/untraced"), over("long/noop-sys_enter", "long/untraced"))
	b.Log("\n" + sum.String())
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
