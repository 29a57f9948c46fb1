package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReachability measures what grading Go findings by reachability
// adds to customs scan (--reachability gate, the default, against off),
// cold and warm, on the Debian-based image of BenchmarkScan (three Go
// executables, two of them 20 MB) and on the fixture Go binary alone; and
// reports the share of findings it takes out of the gate. Target: under
// 10% on a cold scan.
//
//	go test ./bench -run XXX -bench Reachability -benchtime 5x -count 3
func BenchmarkReachability(b *testing.B) {
	dir := b.TempDir()
	fx := scanFixture(b, dir)
	customs, installed, binDir, archive := fx.customs, fx.installed, fx.binDir, fx.archive

	results := map[string]result{}
	for _, in := range []struct{ name, target string }{
		{"go-binary", "dir:" + binDir},
		{"debian-image-100MB", "docker-archive:" + archive},
	} {
		args := func(mode, output string) []string {
			return []string{"scan", in.target, "--db", installed, "-o", output, "--unknown-severity", "pass", "--fail-on", "critical", "--db-warn-age", "0", "--reachability", mode}
		}
		for _, mode := range []string{"off", "gate"} {
			measure(b, results, in.name+"/cold-"+mode, func(b *testing.B, i int) result {
				cache := filepath.Join(dir, fmt.Sprintf("cold-%s-%s-%d-%d", in.name, mode, b.N, i))
				defer os.RemoveAll(cache)
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, args(mode, "json")...)
			})
			measure(b, results, in.name+"/warm-"+mode, func(b *testing.B, i int) result {
				cache := filepath.Join(dir, "warm-"+in.name+"-"+mode)
				if _, err := os.Stat(cache); err != nil {
					runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, args(mode, "json")...)
				}
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, args(mode, "json")...)
			})
		}
		for _, run := range []string{"cold", "warm"} {
			off, gate := results[in.name+"/"+run+"-off"], results[in.name+"/"+run+"-gate"]
			if off.wall > 0 {
				fmt.Printf("%s %s: reachability adds %+.1f%% (%s -> %s)\n", in.name, run, 100*(float64(gate.wall)/float64(off.wall)-1), off.wall.Round(100_000), gate.wall.Round(100_000))
			}
		}
		// What the grading takes out of the gate.
		out := filepath.Join(dir, in.name+".json")
		runTool(b, []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "c0")}, customs, args("gate", "json="+out)...)
		raw, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		var r struct {
			Findings []struct {
				Reachability string `json:"reachability"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			b.Fatal(err)
		}
		levels, graded := map[string]int{}, 0
		for _, f := range r.Findings {
			levels[f.Reachability]++
			if f.Reachability != "" {
				graded++
			}
		}
		dropped := levels["imported"] + levels["required"] + levels["other_platform"]
		if graded > 0 {
			fmt.Printf("%s: %d findings, %d graded %v: %d (%.0f%% of the graded) out of the gate\n", in.name, len(r.Findings), graded, levels, dropped, 100*float64(dropped)/float64(graded))
		}
	}
}
