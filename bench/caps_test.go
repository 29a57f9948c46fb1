package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCapsAnalyze times `customs caps analyze` on a mid-sized real
// module graph fetched through GOPROXY: github.com/google/go-containerregistry
// v0.22.1 (crane and its libraries, 36 modules), all its packages, with a
// VTA call graph. The first run, outside the measurement, fills the module
// cache. Target: under 60 s and 4 GiB on 2 cores.
func BenchmarkCapsAnalyze(b *testing.B) {
	if os.Getenv("CUSTOMS_BENCH_NETWORK") == "" {
		b.Skip("skipping: set CUSTOMS_BENCH_NETWORK=1 to fetch the modules through GOPROXY (see bench/README.md)")
	}
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", customs, "../cmd/customs").CombinedOutput(); err != nil {
		b.Fatalf("building customs: %v\n%s", err, out)
	}
	const target = "gomod:github.com/google/go-containerregistry@v0.22.1"
	env := []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "cache")}
	out := filepath.Join(dir, "caps.json")
	runTool(b, env, customs, "caps", "analyze", target, "-o", "json")
	results := map[string]result{}
	measure(b, results, "customs-caps-analyze", func(b *testing.B, i int) result {
		return runTool(b, env, "/bin/sh", "-c", fmt.Sprintf("%s caps analyze %s -o json > %s", customs, target, out))
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
	r := results["customs-caps-analyze"]
	b.Logf("%s: %d modules, %s wall, %.0f MiB peak RSS (target: 60 s, 4096 MiB)", target, len(res.Modules), r.wall.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
}
