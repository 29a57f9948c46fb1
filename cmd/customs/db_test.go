package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

func sharedZip(t *testing.T, eco string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv", eco, "all.zip"))
	if err != nil {
		t.Skipf("skipping: the shared OSV data is absent: %v", err)
	}
	return b
}

// TestDBUpdateImportStatus serves all.zip files from a local mirror and
// checks update, the swap that keeps the old copy on a bad download,
// import and status.
func TestDBUpdateImportStatus(t *testing.T) {
	goZip := sharedZip(t, "Go")
	var serveBad atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/Go/all.zip" && serveBad.Load():
			w.Write(goZip[:len(goZip)/2]) // truncated
		case r.URL.Path == "/Go/all.zip":
			w.Write(goZip)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	env := cacheEnv(t)
	db := filepath.Join(t.TempDir(), "osv")

	stdout, stderr, code := customs(t, env, "db", "update", "--db", db, "--ecosystem", "Go", "--base-url", srv.URL)
	if code != 0 || !strings.Contains(stdout, "Go: 4291 records") {
		t.Fatalf("db update: exit %d\n%s%s", code, stdout, stderr)
	}
	before, _ := os.ReadFile(filepath.Join(db, "Go", "all.zip"))

	serveBad.Store(true)
	_, stderr, code = customs(t, env, "db", "update", "--db", db, "--ecosystem", "Go", "--base-url", srv.URL)
	if code != 2 || !strings.Contains(stderr, "not a valid zip") {
		t.Errorf("update from a truncated download: exit %d, stderr %q; want 2 and the reason", code, stderr)
	}
	after, _ := os.ReadFile(filepath.Join(db, "Go", "all.zip"))
	if string(before) != string(after) {
		t.Errorf("a failed update changed the installed all.zip")
	}

	_, stderr, code = customs(t, env, "db", "update", "--db", db, "--ecosystem", "NoSuch", "--base-url", srv.URL)
	if code != 2 || !strings.Contains(stderr, "404") {
		t.Errorf("update of a missing ecosystem: exit %d, stderr %q", code, stderr)
	}

	_, stderr, code = customs(t, env, "db", "update", "--db", db, "--ecosystem", "Go", "--base-url", "http://user:secret@mirror.example/osv")
	if code != 2 || !strings.Contains(stderr, "--insecure-base-url") || strings.Contains(stderr, "secret") {
		t.Errorf("update over plain HTTP from another host: exit %d, stderr %q; want 2, the flag named and no password", code, stderr)
	}

	// Import a single zip; its ecosystem is read from its records. Its
	// index cannot be stored (a directory is in the way): a warning, and
	// the zip is in.
	pypi := filepath.Join(t.TempDir(), "pypi.zip")
	os.WriteFile(pypi, sharedZip(t, "PyPI"), 0o644)
	os.MkdirAll(filepath.Join(db, "PyPI", "all.zip.index", "in-the-way"), 0o755)
	stdout, stderr, code = customs(t, env, "db", "import", "--db", db, pypi)
	if code != 0 || !strings.Contains(stdout, "PyPI: 2661 records") || !strings.Contains(stderr, "warning:") || !strings.Contains(stderr, "scans will index it themselves") {
		t.Fatalf("db import with its index in the way: exit %d\n%s%s", code, stdout, stderr)
	}

	stdout, stderr, code = customs(t, env, "db", "status", "--db", db)
	if code != 0 || !strings.Contains(stdout, "Go") || !strings.Contains(stdout, "4291") || !strings.Contains(stdout, "PyPI") || !strings.Contains(stdout, "2661") {
		t.Errorf("db status: exit %d\n%s%s", code, stdout, stderr)
	}

	garbage := filepath.Join(t.TempDir(), "garbage.zip")
	os.WriteFile(garbage, []byte("not a zip"), 0o644)
	_, stderr, code = customs(t, env, "db", "import", "--db", db, "--ecosystem", "npm", garbage)
	if code != 2 || !strings.Contains(stderr, "not a valid zip") {
		t.Errorf("import of garbage: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(db, "npm", "all.zip")); err == nil {
		t.Errorf("garbage was installed")
	}
}
