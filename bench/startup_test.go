package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkStartup measures what every customs process pays before it
// does anything (issue 27): the size of the executable as released, the
// package initialisation that GODEBUG=inittrace=1 reports (the sum of
// every package's init clock), and the wall time of `customs version`.
// Each of b.N rounds runs the executable once; medians are reported, with
// the packages whose initialisation costs most.
//
//	go test ./bench -run XXX -bench Startup -benchtime 21x
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	fi, err := os.Stat(customs)
	if err != nil {
		b.Fatal(err)
	}
	var inits, walls []float64
	perPackage := map[string][]float64{}
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(customs, "version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("customs version: %v\n%s", err, stderr.String())
		}
		walls = append(walls, float64(time.Since(start).Microseconds())/1000)
		sum := 0.0
		for _, line := range strings.Split(stderr.String(), "\n") {
			// init PKG @T ms, D ms clock, B bytes, N allocs
			f := strings.Fields(line)
			if len(f) < 6 || f[0] != "init" {
				continue
			}
			d, err := strconv.ParseFloat(f[4], 64)
			if err != nil {
				continue
			}
			sum += d
			perPackage[f[1]] = append(perPackage[f[1]], d)
		}
		inits = append(inits, sum)
	}
	type cost struct {
		pkg string
		ms  float64
	}
	var costs []cost
	for p, ds := range perPackage {
		costs = append(costs, cost{p, median(ds)})
	}
	sort.Slice(costs, func(i, j int) bool { return costs[i].ms > costs[j].ms })
	b.ReportMetric(float64(fi.Size())/1e6, "MB-executable")
	b.ReportMetric(median(inits), "ms-init")
	b.ReportMetric(median(walls), "ms-version")
	var sum strings.Builder
	fmt.Fprintf(&sum, "\nexecutable %.1f MB (%d bytes); package initialisation median %.2f ms (min %.2f, max %.2f) over %d runs; customs version %.1f ms\n",
		float64(fi.Size())/1e6, fi.Size(), median(inits), slices.Min(inits), slices.Max(inits), b.N, median(walls))
	for _, c := range costs[:min(12, len(costs))] {
		fmt.Fprintf(&sum, "  %6.2f ms  %s\n", c.ms, c.pkg)
	}
	fmt.Println(sum.String())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
