package hostile

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/testimage"
)

// memoryBound is what a scan of any hostile image may take, as the
// process's peak resident set.
const memoryBound = 768 << 20

// TestHostileImages scans every image of the corpus with the customs
// binary, in a sandbox directory whose cache, temporary directory and home
// are inside it: each is rejected (exit 2, naming the problem) or scanned
// (exit 0 or 1), never crashes, stays under the memory bound and a
// minute, and nothing is written outside the cache, nor anywhere the
// image aims at.
func TestHostileImages(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: the corpus has a 1 GiB gzip bomb")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin", "customs")
	build := exec.Command("go", "build", "-o", bin, "./cmd/customs")
	build.Dir = testimage.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building customs: %v\n%s", err, out)
	}
	outside := filepath.Join(work, "outside")
	cases := Corpus(t, filepath.Join(work, "corpus"), outside)
	sandbox := filepath.Join(work, "sandbox")
	for _, d := range []string{"cache", "tmp", "home"} {
		os.MkdirAll(filepath.Join(sandbox, d), 0o755)
	}
	before := snapshot(t, outside)
	db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			cmd := exec.Command(bin, "scan", c.Target, "--db", db, "-o", "json", "--db-warn-age", "0", "--allow-unscanned")
			cmd.Dir = sandbox
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(sandbox, "home"), "TMPDIR=" + filepath.Join(sandbox, "tmp"),
				"CUSTOMS_CACHE=" + filepath.Join(sandbox, "cache")}
			start := time.Now()
			out, _ := cmd.CombinedOutput()
			took := time.Since(start)
			code := cmd.ProcessState.ExitCode()
			rss := int64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) << 10
			t.Logf("exit %d in %s, peak RSS %d MiB: %.300s", code, took.Round(time.Millisecond), rss>>20, lastLine(string(out)))
			switch {
			case c.Reject && code != 2:
				t.Errorf("exit %d, want 2 (rejected)\n%s", code, out)
			case !c.Reject && code != 0 && code != 1:
				t.Errorf("exit %d, want the image scanned\n%s", code, out)
			case strings.Contains(string(out), "panic:") || strings.Contains(string(out), "goroutine "):
				t.Errorf("crashed:\n%s", out)
			}
			if c.Want != "" && !strings.Contains(strings.ToLower(string(out)), strings.ToLower(c.Want)) {
				t.Errorf("the output does not say %q:\n%s", c.Want, out)
			}
			if rss > memoryBound {
				t.Errorf("peak RSS %d MiB over the bound of %d MiB", rss>>20, memoryBound>>20)
			}
			if took > time.Minute {
				t.Errorf("took %s", took)
			}
			for _, p := range c.Outside {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("the image wrote %s", p)
				}
			}
		})
	}
	// Raised, the limit lets the 1,000 layers through, and they are read.
	for _, c := range cases {
		if c.Name == "1000 layers" {
			cmd := exec.Command(bin, "scan", c.Target, "--db", db, "--max-layers", "1000", "--db-warn-age", "0", "--allow-unscanned")
			cmd.Dir = sandbox
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(sandbox, "home"), "TMPDIR=" + filepath.Join(sandbox, "tmp"),
				"CUSTOMS_CACHE=" + filepath.Join(sandbox, "cache")}
			if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("1000 layers with --max-layers 1000: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
			}
		}
	}
	if after := snapshot(t, outside); after != before {
		t.Errorf("the directory the images aim at changed:\nbefore %s\nafter  %s", before, after)
	}
	// Nothing outside the cache: the temporary directory is left empty and
	// the home and working directories untouched.
	filepath.WalkDir(sandbox, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(sandbox, p)
		if err != nil || d.IsDir() || strings.HasPrefix(rel, "cache"+string(filepath.Separator)) {
			return nil
		}
		t.Errorf("written outside the cache: %s", rel)
		return nil
	})
}

func snapshot(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			info, _ := d.Info()
			b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 && !strings.HasPrefix(s, "{") {
		return s[i+1:]
	}
	if len(s) > 300 {
		return s[:300]
	}
	return s
}
