package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// runWithTerminal runs the CLI as customs does, but with stderr taken to
// be a terminal or not, so that progress is rendered without a real TTY.
func runWithTerminal(t *testing.T, tty bool, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := cacheEnv(t)
	a := &app{
		stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv:   func(k string) string { return env[k] },
		terminal: func(io.Writer) bool { return tty },
	}
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	return stderr.String(), exitCode(err, &stderr)
}

func TestProgressSteps(t *testing.T) {
	root := testimage.Root()
	scan := []string{"scan", "dir:" + filepath.Join(root, "testdata", "goapp"), "--db", filepath.Join(root, "testdata", "osv-demo"), "--db-warn-age", "0", "-o", "json"}
	steps := []string{"cataloging packages…", "opening the vulnerability database…", "indexing the database and matching"}

	t.Run("terminal", func(t *testing.T) {
		stderr, code := runWithTerminal(t, true, scan...)
		if code > 1 {
			t.Fatalf("scan exited %d: %s", code, stderr)
		}
		for _, s := range steps {
			if !strings.Contains(stderr, s) {
				t.Errorf("stderr on a terminal = %q, want it to show %q", stderr, s)
			}
		}
		// Each step's line is cleared when it ends, so that the report
		// or the next step starts on a clean line.
		if !strings.HasSuffix(stderr, "\r\033[K") {
			t.Errorf("stderr on a terminal ends %q, want the progress line cleared", stderr[max(0, len(stderr)-20):])
		}
	})
	for _, tc := range []struct {
		name string
		tty  bool
		args []string
	}{
		{"not a terminal", false, scan},
		{"quiet", true, append([]string{"-q"}, scan...)},
		{"quiet after the command", true, append(append([]string(nil), scan...), "--quiet")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr, code := runWithTerminal(t, tc.tty, tc.args...)
			if code > 1 {
				t.Fatalf("scan exited %d: %s", code, stderr)
			}
			if strings.Contains(stderr, "\r") || strings.Contains(stderr, "cataloging") {
				t.Errorf("stderr = %q, want no progress", stderr)
			}
		})
	}
}
