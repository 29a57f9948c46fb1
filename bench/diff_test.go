package bench

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/testimage"
)

// BenchmarkDiff times `customs diff BASE HEAD` on two revisions of a
// mid-sized Go repository: github.com/google/go-containerregistry v0.21.7
// and v0.22.1 (about 36 modules), committed to a git repository with a
// capabilities.txt, so that both vulnerability matching and the capability
// analysis run. Cold is a fresh cache; warm the same diff again. Target:
// under 10 s warm. The module sources come through GOPROXY, so the
// benchmark runs only with CUSTOMS_BENCH_NETWORK=1.
func BenchmarkDiff(b *testing.B) {
	if os.Getenv("CUSTOMS_BENCH_NETWORK") == "" {
		b.Skip("skipping: set CUSTOMS_BENCH_NETWORK=1 (the module sources come through GOPROXY)")
	}
	dir := b.TempDir()
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	repo := filepath.Join(dir, "repo")
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(repo, 0o755)
	git("init", "-q", "-b", "main")
	var decl []byte
	for i, v := range []string{"v0.21.7", "v0.22.1"} {
		out, err := exec.Command("go", "mod", "download", "-json", "github.com/google/go-containerregistry@"+v).Output()
		if err != nil {
			b.Fatalf("go mod download: %v", err)
		}
		var m struct{ Dir string }
		json.Unmarshal(out, &m)
		// Replace the tree with the version's.
		entries, _ := os.ReadDir(repo)
		for _, e := range entries {
			if e.Name() != ".git" {
				os.RemoveAll(filepath.Join(repo, e.Name()))
			}
		}
		copyTree(b, m.Dir, repo)
		if i == 0 {
			cmd := exec.Command(customs, "caps", "init", repo)
			cmd.Env = append(os.Environ(), "CUSTOMS_CACHE="+filepath.Join(dir, "init-cache"))
			if decl, err = cmd.Output(); err != nil {
				b.Fatalf("caps init: %v", err)
			}
		}
		os.WriteFile(filepath.Join(repo, "capabilities.txt"), decl, 0o644)
		git("add", "-A")
		git("commit", "-q", "-m", v)
		git("tag", "rev"+fmt.Sprint(i))
	}
	db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	run := func(cache string) result {
		return runToolAllowFail(b, []string{"CUSTOMS_CACHE=" + cache}, customs, "diff", "rev0", "rev1", "--repo", repo, "--db", db, "-o", "json="+filepath.Join(dir, "diff.json"))
	}
	results := map[string]result{}
	measure(b, results, "cold", func(b *testing.B, i int) result {
		cache := filepath.Join(dir, fmt.Sprintf("cold-%d-%d", b.N, i))
		defer os.RemoveAll(cache)
		return run(cache)
	})
	warm := filepath.Join(dir, "warm")
	run(warm)
	measure(b, results, "warm", func(b *testing.B, i int) result { return run(warm) })
	var c struct {
		Gained []any `json:"capabilities_gained"`
		Lost   []any `json:"capabilities_lost"`
		Change []any `json:"packages_changed"`
	}
	out, _ := os.ReadFile(filepath.Join(dir, "diff.json"))
	json.Unmarshal(out, &c)
	var sum strings.Builder
	for _, k := range []string{"cold", "warm"} {
		fmt.Fprintf(&sum, "%-5s %10s %8.0f MiB\n", k, results[k].wall.Round(time.Millisecond), float64(results[k].maxRSS)/(1<<20))
	}
	fmt.Fprintf(&sum, "the diff: %d packages changed, %d capabilities gained, %d lost (target: warm under 10s)\n", len(c.Change), len(c.Gained), len(c.Lost))
	b.Log("\n" + sum.String())
}

func copyTree(b *testing.B, from, to string) {
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
}
