package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// customsOn is customs with stdout and stderr taken to be terminals or
// not, as tty says of each.
func customsOn(t *testing.T, tty func(w io.Writer, stdout, stderr io.Writer) bool, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv:   func(k string) string { return env[k] },
		terminal: func(w io.Writer) bool { return tty(w, &stdout, &stderr) },
	}
	code := exitCode(a.run(context.Background(), args), &stderr)
	return stdout.String(), stderr.String(), code
}

func bothTerminals(io.Writer, io.Writer, io.Writer) bool { return true }

func demoScan(extra ...string) []string {
	root := testimage.Root()
	return append([]string{"scan", "dir:" + filepath.Join(root, "testdata", "goapp"), "--db", filepath.Join(root, "testdata", "osv-demo"), "--db-warn-age", "0"}, extra...)
}

// TestTableOnATerminal: severities are coloured on a terminal only, not
// with NO_COLOR; the FAILED line is said once when stdout and stderr are
// the same terminal, and on both when they are not.
func TestTableOnATerminal(t *testing.T) {
	stdout, stderr, code := customsOn(t, bothTerminals, cacheEnv(t), demoScan()...)
	if code != exitPolicy {
		t.Fatalf("scan: exit %d, want %d\n%s", code, exitPolicy, stderr)
	}
	if !strings.Contains(stdout, "\x1b[31mHIGH\x1b[0m") || !strings.Contains(stdout, "\x1b[31mFAILED") {
		t.Errorf("stdout on a terminal has no coloured HIGH or FAILED:\n%q", stdout)
	}
	if strings.Contains(stderr, "the policy failed") {
		t.Errorf("stderr repeats the table's verdict on the same terminal:\n%s", stderr)
	}

	env := cacheEnv(t)
	env["NO_COLOR"] = "1"
	stdout, _, _ = customsOn(t, bothTerminals, env, demoScan()...)
	if strings.Contains(stdout, "\x1b[") {
		t.Errorf("NO_COLOR set, stdout has colour codes:\n%q", stdout)
	}

	// Redirected to a file, stdout gets no colour, and stderr keeps the
	// verdict for whoever reads only it.
	stdout, stderr, _ = customsOn(t, func(w, out, _ io.Writer) bool { return w != out }, cacheEnv(t), demoScan()...)
	if strings.Contains(stdout, "\x1b[") {
		t.Errorf("stdout not a terminal, it has colour codes:\n%q", stdout)
	}
	if !strings.Contains(stderr, "the policy failed") {
		t.Errorf("stdout redirected, stderr does not say the policy failed:\n%s", stderr)
	}
	// The table to a file, the verdict belongs to stderr.
	out := filepath.Join(t.TempDir(), "table.txt")
	_, stderr, _ = customsOn(t, bothTerminals, cacheEnv(t), demoScan("-o", "table="+out, "-o", "json")...)
	if !strings.Contains(stderr, "the policy failed") {
		t.Errorf("the table went to a file, stderr does not say the policy failed:\n%s", stderr)
	}
	if b, _ := os.ReadFile(out); bytes.Contains(b, []byte("\x1b[")) {
		t.Errorf("the table file has colour codes:\n%q", b)
	}
}

// TestUsageErrorsPointToTheCommandsHelp: a mistake is explained by the
// help of the command it was made in.
func TestUsageErrorsPointToTheCommandsHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "a", "b"}, "(see customs scan --help)"},
		{[]string{"scan", "--no-such-flag", "a"}, "(see customs scan --help)"},
		{[]string{"caps", "diff", "one"}, "(see customs caps diff --help)"},
		{[]string{"scan", "dir:.", "-o", "yaml"}, "(see customs scan --help)"},
	} {
		_, stderr, code := customs(t, cacheEnv(t), tt.args...)
		if code != exitError || !strings.Contains(stderr, tt.want) {
			t.Errorf("customs %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.want)
		}
	}
}

// TestMissingFileIsNotAnImage: a target shaped like a file that does not
// exist is said to be missing, not looked up in a registry.
func TestMissingFileIsNotAnImage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"scan", "nonexistent.tar"},
		{"scan", "./nonexistent"},
		{"sbom", filepath.Join(dir, "image.tar.gz")},
		{"diff", filepath.Join(dir, "base.json"), filepath.Join(dir, "head.json")},
	} {
		_, stderr, code := customs(t, cacheEnv(t), args...)
		if code != exitError || !strings.Contains(stderr, "no such file or directory") || strings.Contains(stderr, "docker.io") {
			t.Errorf("customs %s: exit %d, stderr %q; want exit 2 saying no such file, without docker.io", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestOutputNeverMakesDirectories: -o FORMAT=FILE into a directory that
// does not exist fails (exit 2) before any work, and creates nothing.
func TestOutputNeverMakesDirectories(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "dir")
	for _, args := range [][]string{
		demoScan("-o", "json="+filepath.Join(missing, "x.json")),
		{"sbom", "dir:" + dir, "-o", "syft-json=" + filepath.Join(missing, "x.json")},
		{"verify", "registry.example/app:1", "--key", "k.pub", "-o", "json=" + filepath.Join(missing, "x.json")},
		{"caps", "analyze", dir, "-o", "json=" + filepath.Join(missing, "x.json")},
	} {
		_, stderr, code := customs(t, cacheEnv(t), args...)
		if code != exitError || !strings.Contains(stderr, "the directory "+missing+" does not exist") {
			t.Errorf("customs %s: exit %d, stderr %q; want exit 2 saying %s does not exist", strings.Join(args, " "), code, stderr, missing)
		}
		if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
			t.Fatalf("customs %s made %s", strings.Join(args, " "), missing)
		}
	}
}

// TestCapsOutputFormatFile: -o is FORMAT[=FILE] in caps as in scan, and
// -o json still prints JSON.
func TestCapsOutputFormatFile(t *testing.T) {
	app := filepath.Join(testimage.Root(), "testdata", "caps", "app")
	env := cacheEnv(t)
	out := filepath.Join(t.TempDir(), "caps.json")
	stdout, stderr, code := customs(t, env, "caps", "analyze", app, "-o", "json="+out, "-o", "text")
	if code != 0 {
		t.Fatalf("caps analyze -o json=FILE -o text: exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("{")) {
		t.Errorf("caps analyze -o json=%s wrote %q (%v), want JSON", out, b, err)
	}
	if strings.HasPrefix(stdout, "{") || !strings.Contains(stdout, "EXEC") {
		t.Errorf("caps analyze -o text printed %q, want the text listing", stdout)
	}
	stdout, _, code = customs(t, env, "caps", "analyze", app, "-o", "json")
	if code != 0 || !strings.HasPrefix(stdout, "{") {
		t.Errorf("caps analyze -o json: exit %d, stdout %.40q; want JSON", code, stdout)
	}
	_, stderr, code = customs(t, env, "caps", "analyze", app, "-o", "yaml")
	if code != exitError || !strings.Contains(stderr, `unknown output format "yaml"`) {
		t.Errorf("caps analyze -o yaml: exit %d, stderr %q", code, stderr)
	}
}

// TestVerifyListsOnlyItsFlags: verify reads manifests and signatures, so
// the image limits and --platform of the pulling commands are not its.
func TestVerifyListsOnlyItsFlags(t *testing.T) {
	stdout, _, _ := customs(t, cacheEnv(t), "verify", "--help")
	for _, flag := range []string{"--platform", "--max-layers", "--max-image-size", "--max-sbom-size", "--max-archive-depth"} {
		if strings.Contains(stdout, flag) {
			t.Errorf("verify --help lists %s, which verify does not use", flag)
		}
	}
	if !strings.Contains(stdout, "--insecure-registry") || !strings.Contains(stdout, "FORMAT[=FILE]") {
		t.Errorf("verify --help lacks --insecure-registry or -o FORMAT[=FILE]:\n%s", stdout)
	}
}

// TestHelpSpellsAnalyze: the command is analyze, and so is its help.
func TestHelpSpellsAnalyze(t *testing.T) {
	for _, args := range [][]string{{"caps", "--help"}, {"caps", "init", "--help"}, {"caps", "diff", "--help"}, {"caps", "analyze", "--help"}, {"scan", "--help"}} {
		stdout, _, _ := customs(t, cacheEnv(t), args...)
		if strings.Contains(strings.ToLower(stdout), "analys") && !strings.Contains(strings.ToLower(stdout), "analysis") || strings.Contains(stdout, "analyse") {
			t.Errorf("customs %s says analyse:\n%s", strings.Join(args, " "), stdout)
		}
	}
}

// TestDiffWarnsOfTheDatabaseOnce: both sides are matched against the same
// old database; its age is said once.
func TestDiffWarnsOfTheDatabaseOnce(t *testing.T) {
	root := testimage.Root()
	side := "dir:" + filepath.Join(root, "testdata", "goapp")
	_, stderr, _ := customs(t, cacheEnv(t), "diff", side, side, "--db", filepath.Join(root, "testdata", "osv-demo"))
	if n := strings.Count(stderr, "the vulnerability data is"); n != 1 {
		t.Errorf("diff warned of the database's age %d times, want once:\n%s", n, stderr)
	}
}
