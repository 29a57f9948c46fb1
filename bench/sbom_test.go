package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/customs-dev/customs/bench/images"
	"github.com/customs-dev/customs/internal/testimage"
)

func debianImage(b *testing.B, size int64) v1.Image {
	b.Helper()
	img, err := images.Debian(b.TempDir(), size)
	if err != nil {
		b.Skip("skipping: ", err)
	}
	return img
}

func writeArchive(b *testing.B, img v1.Image, path string) {
	b.Helper()
	tag, _ := name.NewTag("bench/image:1")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		b.Fatal(err)
	}
}

// measure runs one tool b.N times as a sub-benchmark and records its mean
// wall time and peak RSS under key.
func measure(b *testing.B, results map[string]result, key string, run func(*testing.B, int) result) {
	b.Run(key, func(b *testing.B) {
		var total time.Duration
		var peak int64
		for i := 0; i < b.N; i++ {
			r := run(b, i)
			total += r.wall
			peak = max(peak, r.maxRSS)
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/run")
		b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS")
		results[key] = result{wall: total / time.Duration(b.N), maxRSS: peak}
	})
}

type result struct {
	wall   time.Duration
	maxRSS int64 // bytes
}

// runTool runs a command and returns its wall time and peak RSS.
func runTool(b *testing.B, env []string, bin string, args ...string) result {
	b.Helper()
	return run(b, false, env, bin, args...)
}

// runToolAllowFail is runTool for commands that exit 1 when they find
// vulnerabilities.
func runToolAllowFail(b *testing.B, env []string, bin string, args ...string) result {
	b.Helper()
	return run(b, true, env, bin, args...)
}

func run(b *testing.B, allowExit1 bool, env []string, bin string, args ...string) result {
	b.Helper()
	// GNU time reports the child's own peak RSS; the rusage of a child
	// forked from this large test process would count pages it never used.
	rssFile := filepath.Join(b.TempDir(), "rss")
	name, argv := bin, args
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		name, argv = "/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, bin}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil && !(allowExit1 && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 1) {
		b.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	wall := time.Since(start)
	var kb int64
	if raw, err := os.ReadFile(rssFile); err == nil {
		// The last line is the number; a line before it may report the exit status.
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		fmt.Sscan(lines[len(lines)-1], &kb)
	} else {
		kb = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	return result{wall: wall, maxRSS: kb * 1024}
}

// BenchmarkSBOM compares customs and syft on the same image tarballs.
func BenchmarkSBOM(b *testing.B) {
	syft := os.Getenv("SYFT")
	if syft == "" {
		syft, _ = exec.LookPath("syft")
	}
	if syft == "" {
		b.Skip("skipping: set SYFT to a syft v1.57.0 binary (see bench/README.md)")
	}
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	build := exec.Command("go", "build", "-trimpath", "-o", customs, "../cmd/customs")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building customs: %v\n%s", err, out)
	}
	images := map[string]string{
		"debian-100MB": filepath.Join(dir, "debian.tar"),
		"small-go":     filepath.Join(dir, "small-go.tar"),
	}
	writeArchive(b, debianImage(b, 100<<20), images["debian-100MB"])
	writeArchive(b, testimage.Image(b, "amd64", testimage.GoBinary(b, "amd64")), images["small-go"])

	results := map[string]result{}
	var names []string
	for _, img := range []string{"debian-100MB", "small-go"} {
		archive := images[img]
		fi, _ := os.Stat(archive)
		tools := []struct {
			name string
			run  func(b *testing.B, i int) result
		}{
			{"syft", func(b *testing.B, i int) result {
				return runTool(b, []string{"SYFT_CHECK_FOR_APP_UPDATE=false"}, syft, "scan", "docker-archive:"+archive, "-o", "cyclonedx-json", "-q")
			}},
			{"customs-cold", func(b *testing.B, i int) result {
				cache := filepath.Join(dir, fmt.Sprintf("cold-%s-%d-%d", img, b.N, i))
				defer os.RemoveAll(cache)
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, "sbom", "docker-archive:"+archive, "-o", "cyclonedx-json")
			}},
			{"customs-warm", func(b *testing.B, i int) result {
				cache := filepath.Join(dir, "warm-"+img)
				if _, err := os.Stat(cache); err != nil {
					runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, "sbom", "docker-archive:"+archive, "-o", "cyclonedx-json")
				}
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, "sbom", "docker-archive:"+archive, "-o", "cyclonedx-json")
			}},
		}
		for _, tool := range tools {
			key := img + "/" + tool.name
			names = append(names, key)
			measure(b, results, key, tool.run)
		}
		fmt.Printf("%s: docker-archive of %.1f MiB\n", img, float64(fi.Size())/(1<<20))
	}
	sort.Strings(names)
	var sum strings.Builder
	fmt.Fprintf(&sum, "\n%-28s %10s %12s\n", "run", "wall", "peak RSS")
	for _, n := range names {
		r := results[n]
		fmt.Fprintf(&sum, "%-28s %10s %9.0f MiB\n", n, r.wall.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
	}
	for _, img := range []string{"debian-100MB", "small-go"} {
		s, c, w := results[img+"/syft"], results[img+"/customs-cold"], results[img+"/customs-warm"]
		if c.wall > 0 && w.wall > 0 {
			fmt.Fprintf(&sum, "%s: syft/customs-cold time %.2fx, syft/customs-warm time %.1fx, memory syft/customs-cold %.2fx\n",
				img, float64(s.wall)/float64(c.wall), float64(s.wall)/float64(w.wall), float64(s.maxRSS)/float64(c.maxRSS))
		}
	}
	fmt.Println(sum.String())
}
