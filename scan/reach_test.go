package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
)

// TestReachabilityGate scans the fixture program (testdata/goapp) in an
// image and in a directory against the shared Go data: its Go findings
// are graded as govulncheck grades them (vuln/reach holds that), the
// gate fails on the called ones only, gates on all with ReachReport, and
// grades none with ReachOff; a warm scan grades from the cache alike.
func TestReachabilityGate(t *testing.T) {
	db := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv")
	if _, err := os.Stat(filepath.Join(db, "Go", "all.zip")); err != nil {
		t.Skipf("skipping: the shared OSV data is not at %s (see ../shared/testdata/README.md)", db)
	}
	bin := testimage.GoBinary(t, "amd64")
	dir := t.TempDir()
	archive := filepath.Join(dir, "app.tar")
	testimage.WriteDockerArchive(t, testimage.Executables(t, map[string][]byte{"usr/bin/app": bin}), archive, false)
	root := filepath.Join(dir, "root", "usr", "bin")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "app"), bin, 0o755)

	store, err := cas.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	scanner := &Scanner{Cache: store, DB: db}
	run := func(target pull.Target, mode Reachability) (*result.Result, map[string]int, int) {
		t.Helper()
		p := DefaultPolicy()
		p.AllowUnscanned, p.Reachability = true, mode
		r, err := scanner.Scan(context.Background(), target, Request{Policy: p})
		var perr *PolicyError
		if err != nil && !errors.As(err, &perr) {
			t.Fatalf("%s: %v", target.Input, err)
		}
		levels, fails := map[string]int{}, 0
		for _, f := range r.Findings {
			if f.Package.Ecosystem == "Go" {
				levels[f.Reachability]++
			}
			if f.Fails {
				fails++
			}
		}
		return r, levels, fails
	}
	for _, target := range []pull.Target{
		{Kind: pull.DockerArchive, Ref: archive, Input: "docker-archive:" + archive},
		{Kind: pull.Dir, Ref: filepath.Join(dir, "root"), Input: "dir:" + filepath.Join(dir, "root")},
	} {
		for _, pass := range []string{"cold", "warm"} {
			r, levels, fails := run(target, ReachGate)
			if levels["called"] != 3 || levels["imported"] != 13 || levels["required"] != 41 || levels["other_platform"] != 1 || levels[""] != 0 {
				t.Errorf("%s (%s): levels %v; want 3 called, 13 imported, 41 required, 1 other_platform", target.Input, pass, levels)
			}
			if fails != 3 || r.Gate.Passed {
				t.Errorf("%s (%s): %d findings fail, gate passed %v; want the 3 called ones to fail it", target.Input, pass, fails, r.Gate.Passed)
			}
		}
		// Against a baseline where the program did not yet call one of
		// the vulnerable functions, that finding is new and fails; the
		// others existed and pass.
		base, _, _ := run(target, ReachGate)
		called := -1
		for i, f := range base.Findings {
			if f.Reachability == "called" {
				called = i
				base.Findings[i].Reachability = "imported"
				break
			}
		}
		p := DefaultPolicy()
		p.AllowUnscanned = true
		r, err := scanner.Scan(context.Background(), target, Request{Policy: p, Baseline: base})
		var perr *PolicyError
		if err != nil && !errors.As(err, &perr) {
			t.Fatal(err)
		}
		for _, f := range r.Findings {
			rose := f.ID == base.Findings[called].ID && f.Package.Name == base.Findings[called].Package.Name
			if rose != (f.Baseline == result.New) || rose != f.Fails {
				t.Errorf("%s against the baseline: %s (%s) is %s, fails %v; want new and failing only for the one that rose to called", target.Input, f.ID, f.Reachability, f.Baseline, f.Fails)
			}
		}
		// customs diff shows the rise.
		c := Compare(base, r, CompareOptions{})
		if len(c.Reachability) != 1 || c.Reachability[0].From != "imported" || c.Reachability[0].To != "called" || len(c.Introduced) != 1 || c.Introduced[0].ID != c.Reachability[0].ID {
			t.Errorf("%s: diff reachability %+v, introduced %d; want the one rise to called, introduced", target.Input, c.Reachability, len(c.Introduced))
		}
		if _, _, fails := run(target, ReachReport); fails != 58 {
			t.Errorf("%s, reachability report: %d findings fail, want all 58", target.Input, fails)
		}
		if _, levels, _ := run(target, ReachOff); levels[""] != 58 {
			t.Errorf("%s, reachability off: levels %v, want none graded", target.Input, levels)
		}
	}
}
