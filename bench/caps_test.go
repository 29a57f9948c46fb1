package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCapsAnalyze times `customs caps analyze` on real module graphs
// fetched through GOPROXY, each run with an empty customs cache (the Go
// module cache is filled by a first run outside the measurement):
// github.com/google/go-containerregistry v0.22.1 whole (every package's
// API is an entry point) and from crane's main (--packages ./cmd/crane),
// and yq v4.45.1 from its main. Targets (issue 25): crane under 8 s and
// 1.5 GiB on 2 cores.
func BenchmarkCapsAnalyze(b *testing.B) {
	if os.Getenv("CUSTOMS_BENCH_NETWORK") == "" {
		b.Skip("skipping: set CUSTOMS_BENCH_NETWORK=1 to fetch the modules through GOPROXY (see bench/README.md)")
	}
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	results := map[string]result{}
	for _, in := range []struct{ name, target, packages string }{
		{"ggcr-whole", "gomod:github.com/google/go-containerregistry@v0.22.1", "./..."},
		{"ggcr-crane", "gomod:github.com/google/go-containerregistry@v0.22.1", "./cmd/crane"},
		{"yq", "gomod:github.com/mikefarah/yq/v4@v4.45.1", "."},
	} {
		out := filepath.Join(dir, in.name+".json")
		args := fmt.Sprintf("%s caps analyze %s --packages %s -o json > %s", customs, in.target, in.packages, out)
		runTool(b, []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "warmup")}, "/bin/sh", "-c", args)
		measure(b, results, in.name, func(b *testing.B, i int) result {
			cache := filepath.Join(dir, fmt.Sprintf("cache-%s-%d-%d", in.name, b.N, i))
			defer os.RemoveAll(cache)
			return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, "/bin/sh", "-c", args)
		})
		var res struct {
			Modules []struct {
				Path         string
				Capabilities []json.RawMessage
			}
		}
		raw, _ := os.ReadFile(out)
		if err := json.Unmarshal(raw, &res); err != nil {
			b.Fatal(err)
		}
		r := results[in.name]
		fmt.Printf("%s (%s, %s): %d modules, %s wall, %.0f MiB peak RSS\n", in.name, in.target, in.packages, len(res.Modules), r.wall.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
	}
}
