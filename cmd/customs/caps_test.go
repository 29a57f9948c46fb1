package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// copyTree copies testdata/caps (app and its replaced dependency evil)
// so that a test can add a capabilities.txt.
func copyTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testimage.Root(), "testdata", "caps")
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestCaps drives customs caps analyze, init, check and diff on the test
// program whose dependency runs a program, dials and writes a file.
func TestCaps(t *testing.T) {
	tree := copyTree(t)
	app := filepath.Join(tree, "app")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	none := write("none.txt", "capabilities 1\nmain ALL\n")
	granted := write("granted.txt", "capabilities 1\nexample.com/evil EXEC NETWORK FILES/WRITE REFLECT\n")
	malformed := write("bad.txt", "capabilities 1\nexample.com/evil TELEPORT\n")
	env := cacheEnv(t)

	oldJSON, _, code := customs(t, env, "caps", "analyze", app, "-o", "json")
	if code != 0 {
		t.Fatalf("caps analyze -o json: exit %d", code)
	}
	// The same program before it took the dependency's calls.
	os.WriteFile(filepath.Join(dir, "old.json"), []byte(strings.ReplaceAll(oldJSON, `"capability": "EXEC"`, `"capability": "REFLECT"`)), 0o644)
	stdout, stderr, code := customs(t, env, "caps", "init", app)
	if code != 0 {
		t.Fatalf("caps init: exit %d\n%s", code, stderr)
	}
	initFile := write("init.txt", stdout)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"analyze", []string{"caps", "analyze", app + "/..."}, 0, []string{"example.com/evil@v0.0.0", "EXEC", "direct", "example.com/evil.Do (evil.go:14) -> os/exec.Command", "via example.com/evil"}},
		{"analyze json", []string{"caps", "analyze", "dir:" + app, "-o", "json"}, 0, []string{`"capability": "NETWORK/CONNECT"`, `"direct": true`}},
		{"check fails", []string{"caps", "check", "--declared", none, app}, 1, []string{"NOT DECLARED: example.com/evil EXEC", "-> os/exec.Command", "NOT DECLARED: example.com/evil NETWORK/CONNECT", "NOT DECLARED: example.com/evil FILES/WRITE"}},
		{"check passes", []string{"caps", "check", "--declared", granted, app}, 0, []string{"OK: every capability", "grants example.com/evil REFLECT, which no code uses"}},
		{"init output passes", []string{"caps", "check", "--declared", initFile, app}, 0, []string{"OK: every capability"}},
		{"malformed declaration", []string{"caps", "check", "--declared", malformed, app}, 2, []string{"bad.txt:2:18"}},
		{"no declaration", []string{"caps", "check", app}, 2, []string{"--declared capabilities.txt is required"}},
		{"not a directory", []string{"caps", "analyze", filepath.Join(app, "main.go")}, 2, []string{"is not a directory"}},
		{"diff of itself", []string{"caps", "diff", app, app}, 0, []string{"No module gained or lost a capability."}},
		{"diff of saved results", []string{"caps", "diff", filepath.Join(dir, "old.json"), app}, 0, []string{"+ example.com/evil EXEC", "-> os/exec.Command", "- example.com/evil REFLECT"}},
		{"diff of a malformed result", []string{"caps", "diff", malformed + ".json", app}, 2, []string{"reading"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := customs(t, env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout+stderr, w) {
					t.Errorf("output does not mention %q:\n%s%s", w, stdout, stderr)
				}
			}
		})
	}
	if !strings.Contains(stdout, "# example.com/evil.Do (evil.go:") {
		t.Errorf("caps init does not say where each grant comes from:\n%s", stdout)
	}
}

// TestCapsDiffRealModule diffs two versions of github.com/fatih/color
// fetched through GOPROXY: v1.13.0 reads the environment (NO_COLOR, TERM)
// in its package initializer, which v1.0.0 did not.
func TestCapsDiffRealModule(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: fetches real modules through GOPROXY")
	}
	env := cacheEnv(t)
	stdout, stderr, code := customs(t, env, "caps", "diff", "gomod:github.com/fatih/color@v1.0.0", "gomod:github.com/fatih/color@v1.13.0")
	if code != 0 || !strings.Contains(stdout, "+ github.com/fatih/color READ_SYSTEM_STATE") || !strings.Contains(stdout, "-> os.Getenv") {
		t.Errorf("exit %d, want READ_SYSTEM_STATE added with its call:\n%s%s", code, stdout, stderr)
	}
}

// TestScanChecksCapabilities scans Go source that has a capabilities.txt,
// and one given with --capabilities: an undeclared capability fails the
// scan and is in the report.
func TestScanChecksCapabilities(t *testing.T) {
	tree := copyTree(t)
	app := filepath.Join(tree, "app")
	db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	env := cacheEnv(t)
	scanArgs := func(extra ...string) []string {
		return append([]string{"scan", "dir:" + app, "--db", db, "--db-warn-age", "0"}, extra...)
	}
	// No declaration: nothing to check.
	if stdout, stderr, code := customs(t, env, scanArgs()...); code != 0 || strings.Contains(stdout, "capabilities") {
		t.Errorf("without a declaration: exit %d\n%s%s", code, stdout, stderr)
	}
	os.WriteFile(filepath.Join(app, "capabilities.txt"), []byte("capabilities 1\nmain ALL\nexample.com/evil NETWORK\n"), 0o644)
	jsonOut := filepath.Join(t.TempDir(), "report.json")
	stdout, stderr, code := customs(t, env, scanArgs("-o", "table", "-o", "json="+jsonOut)...)
	js, _ := os.ReadFile(jsonOut)
	if code != 1 || !strings.Contains(stdout, "NOT DECLARED example.com/evil EXEC") || !strings.Contains(string(js), `"capabilities": {`) || !strings.Contains(stdout, "capabilities are used but not declared") {
		t.Errorf("with capabilities.txt: exit %d, want 1 and the violations in the report\n%s%s", code, stdout, stderr)
	}
	granted := filepath.Join(t.TempDir(), "caps.txt")
	os.WriteFile(granted, []byte("capabilities 1\nmain ALL\nexample.com/evil EXEC NETWORK FILES\n"), 0o644)
	if stdout, stderr, code := customs(t, env, scanArgs("--capabilities", granted)...); code != 0 || !strings.Contains(stdout, "every capability the code exercises is declared") {
		t.Errorf("with --capabilities granting everything: exit %d\n%s%s", code, stdout, stderr)
	}
}
