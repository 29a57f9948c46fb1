package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
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

// buildCustoms builds customs from this tree as it is released
// (.goreleaser.yml): static, -trimpath, without symbols and DWARF. The
// executable's size is part of what the benchmarks measure: its pages are
// most of a short run's resident set. CUSTOMS_BENCH_BIN names an
// executable to measure instead (an older build, for before and after).
func buildCustoms(b *testing.B, out string) {
	b.Helper()
	if bin := os.Getenv("CUSTOMS_BENCH_BIN"); bin != "" {
		if err := os.Symlink(bin, out); err != nil {
			b.Fatal(err)
		}
		return
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "../cmd/customs")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building customs: %v\n%s", err, msg)
	}
}

// writeSmallImages writes issue 27's two images of the Go binary bin:
// alone in a scratch image, and on a Debian minbase root filesystem.
func writeSmallImages(b *testing.B, bin []byte, scratch, minbase string) {
	b.Helper()
	writeArchive(b, testimage.Executables(b, map[string][]byte{"usr/local/bin/goapp": bin}), scratch)
	base, err := images.Minbase(b.TempDir())
	if err != nil {
		b.Skip(err)
	}
	app, _ := testimage.Image(b, "amd64", bin).Layers()
	img, err := mutate.AppendLayers(base, app[len(app)-1])
	if err != nil {
		b.Fatal(err)
	}
	writeArchive(b, img, minbase)
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
	buildCustoms(b, customs)
	archives := map[string]string{
		"debian-100MB": filepath.Join(dir, "debian.tar"),
		"scratch-go":   filepath.Join(dir, "scratch-go.tar"),
		"minbase-go":   filepath.Join(dir, "minbase-go.tar"),
	}
	order := []string{"debian-100MB", "scratch-go", "minbase-go"}
	writeArchive(b, debianImage(b, 100<<20), archives["debian-100MB"])
	writeSmallImages(b, testimage.GoBinary(b, "amd64"), archives["scratch-go"], archives["minbase-go"])

	results := map[string]result{}
	var names []string
	var licenses []string
	for _, img := range order {
		archive := archives[img]
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
		syftOut, customsOut := filepath.Join(dir, img+".syft.cdx.json"), filepath.Join(dir, img+".customs.cdx.json")
		runTool(b, []string{"SYFT_CHECK_FOR_APP_UPDATE=false"}, syft, "scan", "docker-archive:"+archive, "-o", "cyclonedx-json="+syftOut, "-q")
		runTool(b, []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "lic-"+img)}, customs, "sbom", "docker-archive:"+archive, "-o", "cyclonedx-json="+customsOut)
		licenses = append(licenses, img+": "+sameLicenses(b, syftOut, customsOut))
	}
	sort.Strings(names)
	var sum strings.Builder
	fmt.Fprintf(&sum, "\n%-28s %10s %12s\n", "run", "wall", "peak RSS")
	for _, n := range names {
		r := results[n]
		fmt.Fprintf(&sum, "%-28s %10s %9.0f MiB\n", n, r.wall.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
	}
	for _, img := range order {
		s, c, w := results[img+"/syft"], results[img+"/customs-cold"], results[img+"/customs-warm"]
		if c.wall > 0 && w.wall > 0 {
			fmt.Fprintf(&sum, "%s: customs over syft: wall cold %.2f, warm %.3f; peak RSS cold %.2f\n",
				img, float64(c.wall)/float64(s.wall), float64(w.wall)/float64(s.wall), float64(c.maxRSS)/float64(s.maxRSS))
		}
	}
	for _, l := range licenses {
		fmt.Fprintln(&sum, l)
	}
	fmt.Println(sum.String())
}

// sameLicenses compares the licenses syft and customs give each component
// of their CycloneDX SBOMs of one image (by package URL, or name, and
// version); a difference fails the benchmark.
func sameLicenses(b *testing.B, syftJSON, customsJSON string) string {
	b.Helper()
	read := func(path string) []string {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		var doc struct {
			Components []struct {
				Type, Name, Version, PURL string
				Licenses                  []struct {
					License    struct{ ID, Name string }
					Expression string
				}
			}
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		var out []string
		for _, c := range doc.Components {
			if c.Type == "file" {
				continue
			}
			var ls []string
			for _, l := range c.Licenses {
				ls = append(ls, l.License.ID+l.License.Name+l.Expression)
			}
			sort.Strings(ls)
			key := c.PURL
			if key == "" {
				key = c.Name
			}
			out = append(out, key+"@"+c.Version+" "+strings.Join(ls, ","))
		}
		sort.Strings(out)
		return out
	}
	want, got := read(syftJSON), read(customsJSON)
	licensed := 0
	for _, w := range want {
		if !strings.HasSuffix(w, " ") {
			licensed++
		}
	}
	if !slices.Equal(want, got) {
		b.Errorf("customs and syft disagree on licenses:\nonly syft's:    %v\nonly customs':  %v", minus(want, got), minus(got, want))
		return "licenses DIFFERENT from syft's"
	}
	return fmt.Sprintf("%d packages, %d with licenses, the same as syft's", len(want), licensed)
}
