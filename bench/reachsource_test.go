package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/govulncheck"
	"github.com/customs-dev/customs/internal/testimage"
)

// BenchmarkReachabilitySource compares customs' source mode with
// govulncheck v1.9.0's on github.com/google/go-containerregistry v0.22.1,
// side by side on the same Go data: customs scan of the gomod: target
// with an empty cache, with --reachability off (the cost of the call
// graph), and warm; govulncheck ./... in the same module, unpacked. It
// reports wall time and peak RSS, the levels each gives, whether they
// agree, and the share of findings customs takes out of the gate.
//
//	CUSTOMS_BENCH_NETWORK=1 GOVULNCHECK=... go test ./bench -run XXX -bench ReachabilitySource -benchtime 3x
func BenchmarkReachabilitySource(b *testing.B) {
	if os.Getenv("CUSTOMS_BENCH_NETWORK") == "" {
		b.Skip("skipping: set CUSTOMS_BENCH_NETWORK=1 to fetch the modules through GOPROXY (see bench/README.md)")
	}
	gvc := os.Getenv("GOVULNCHECK")
	if gvc == "" {
		b.Skip("skipping: set GOVULNCHECK to a govulncheck v1.9.0 binary (see bench/README.md)")
	}
	const mod = "github.com/google/go-containerregistry@v0.22.1"
	dir := b.TempDir()
	fx := scanFixture(b, dir)
	_, records := testimage.GoVulnRecords(b)
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		b.Fatalf("go mod download %s: %v", mod, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	copyTree(b, m.Dir, src)

	customsJSON, gvcJSON := filepath.Join(dir, "customs.json"), filepath.Join(dir, "govulncheck.json")
	scan := func(cache, mode, output string) result {
		return runToolAllowFail(b, []string{"CUSTOMS_CACHE=" + cache}, fx.customs, "scan", "gomod:"+mod, "--db", fx.installed,
			"--db-warn-age", "0", "--reachability", mode, "-o", "json="+output)
	}
	// Outside the measurement: the module cache holds every dependency.
	scan(filepath.Join(dir, "warm"), "gate", customsJSON)
	results := map[string]result{}
	for _, mode := range []string{"gate", "off"} {
		measure(b, results, "customs-cold-"+mode, func(b *testing.B, i int) result {
			cache := filepath.Join(dir, fmt.Sprintf("cold-%s-%d-%d", mode, b.N, i))
			defer os.RemoveAll(cache)
			return scan(cache, mode, filepath.Join(dir, "out.json"))
		})
	}
	measure(b, results, "customs-warm", func(b *testing.B, i int) result {
		return scan(filepath.Join(dir, "warm"), "gate", customsJSON)
	})
	measure(b, results, "govulncheck", func(b *testing.B, i int) result {
		return runTool(b, nil, "/bin/sh", "-c", fmt.Sprintf("cd %s && GOFLAGS=-mod=mod %s -db file://%s -format json ./... > %s", src, gvc, records, gvcJSON))
	})
	g, cold, off, warm := results["govulncheck"], results["customs-cold-gate"], results["customs-cold-off"], results["customs-warm"]
	ms := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	fmt.Printf("%s: govulncheck %s %s; customs cold %s %s (%.2fx govulncheck's wall, %.2fx its RSS), --reachability off %s %s, warm %s %s\n",
		mod, ms(g.wall), mib(g.maxRSS), ms(cold.wall), mib(cold.maxRSS), float64(cold.wall)/float64(g.wall), float64(cold.maxRSS)/float64(g.maxRSS),
		ms(off.wall), mib(off.maxRSS), ms(warm.wall), mib(warm.maxRSS))

	ours := customsLevels(b, customsJSON)
	theirs := govulncheckLevels(b, gvcJSON)
	agree, count := 0, map[string]int{}
	for id, l := range ours {
		count[l]++
		if theirs[id] == l {
			agree++
		} else {
			fmt.Printf("  %s: customs %q, govulncheck %q\n", id, l, theirs[id])
		}
	}
	for id, l := range theirs {
		if _, ok := ours[id]; !ok {
			fmt.Printf("  %s: customs has no finding, govulncheck %q\n", id, l)
		}
	}
	dropped := count["imported"] + count["required"]
	fmt.Printf("%s: %d findings %v, %d agree with govulncheck (which has %d); %d (%.0f%%) out of the gate\n",
		mod, len(ours), count, agree, len(theirs), dropped, 100*float64(dropped)/float64(max(1, len(ours))))
}

// customsLevels reads each Go finding's level from a customs JSON report.
func customsLevels(b *testing.B, file string) map[string]string {
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Findings []struct {
			ID           string `json:"id"`
			Reachability string `json:"reachability"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range r.Findings {
		out[f.ID] = f.Reachability
	}
	return out
}

// govulncheckLevels reads the deepest level of each vulnerability from
// govulncheck's JSON stream.
func govulncheckLevels(b *testing.B, file string) map[string]string {
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	found, err := govulncheck.Read(raw)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]string{}
	for id, f := range found {
		out[id] = f.Level
	}
	return out
}
