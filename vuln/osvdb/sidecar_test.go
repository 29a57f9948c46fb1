package osvdb

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/customs-dev/customs/internal/cas"
)

func writeZip(t *testing.T, path string, records map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range records {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// indexes opens dir with a fresh cache, reads the Go index and reports
// whether it had to be built, and the members it names for a package.
func indexes(t *testing.T, dir string) (built bool, members []string) {
	t.Helper()
	var log bytes.Buffer
	store, err := cas.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir, Options{Cache: store, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := db.index("Go")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(log.String(), "indexed OSV records"), ix.members("Go/example.com/a")
}

// TestInstalledIndex checks that an installed zip's index is stored beside
// it and read back by a scan with an empty cache, that it is ignored once
// the zip changes or when it is damaged, and that a scan writes nothing
// beside a database it did not install.
func TestInstalledIndex(t *testing.T) {
	src := filepath.Join(t.TempDir(), "all.zip")
	writeZip(t, src, map[string]string{
		"GO-1.json": `{"id":"GO-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/a"}}]}`,
		"GO-2.json": `{"id":"GO-2","modified":"2026-01-02T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/b"}}]}`,
	})

	// A database laid out by hand (or by osv-scanner) is indexed by each
	// cold scan, and nothing is written beside it.
	foreign := t.TempDir()
	os.MkdirAll(filepath.Join(foreign, "Go"), 0o755)
	b, _ := os.ReadFile(src)
	os.WriteFile(filepath.Join(foreign, "Go", "all.zip"), b, 0o644)
	if built, _ := indexes(t, foreign); !built {
		t.Errorf("a database without an index was not indexed")
	}
	if _, err := os.Stat(filepath.Join(foreign, "Go", "all.zip"+sidecarSuffix)); err == nil {
		t.Errorf("a scan wrote an index beside a database it did not install")
	}

	db := t.TempDir()
	if n, err := Install(db, "Go", src); err != nil || n != 2 {
		t.Fatalf("Install = %d, %v; want 2 records", n, err)
	}
	zipPath := filepath.Join(db, "Go", "all.zip")
	if _, err := os.Stat(zipPath + sidecarSuffix); err != nil {
		t.Fatalf("Install stored no index: %v", err)
	}
	for _, p := range []string{zipPath, zipPath + sidecarSuffix} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v, %v; want it readable by all (0644)", p, fi.Mode(), err)
		}
	}
	built, members := indexes(t, db)
	if built || len(members) != 1 || members[0] != "GO-1.json" {
		t.Errorf("with an installed index: built %v, members %v; want the stored index naming GO-1.json", built, members)
	}

	// Replacing the zip by hand makes the stored index stale.
	writeZip(t, zipPath, map[string]string{
		"GO-3.json": `{"id":"GO-3","modified":"2026-01-03T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/a"}}]}`,
	})
	os.Chtimes(zipPath, time.Now(), time.Now().Add(time.Hour))
	built, members = indexes(t, db)
	if !built || len(members) != 1 || members[0] != "GO-3.json" {
		t.Errorf("after the zip changed: built %v, members %v; want a new index naming GO-3.json", built, members)
	}

	// A damaged index is ignored, never trusted.
	if _, err := Install(db, "Go", src); err != nil {
		t.Fatal(err)
	}
	for _, damage := range []string{"", "{", `{"format":"index-0"}`, `{"format":"` + indexFormat + `","size":1,"mtime":1,"index":{"names":{}}}`, "\x00\xff"} {
		os.WriteFile(zipPath+sidecarSuffix, []byte(damage), 0o644)
		if built, members := indexes(t, db); !built || len(members) != 1 || members[0] != "GO-1.json" {
			t.Errorf("index file %q: built %v, members %v; want it ignored and the zip indexed", damage, built, members)
		}
	}
}

// TestInstallRefusesBadZips checks that a zip that is not one, or holds a
// record that does not parse, or none, is refused and leaves the database
// as it was.
func TestInstallRefusesBadZips(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.zip")
	writeZip(t, good, map[string]string{"GO-1.json": `{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"example.com/a"}}]}`})
	db := filepath.Join(dir, "db")
	if _, err := Install(db, "Go", good); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(db, "Go", "all.zip"))
	bad := filepath.Join(dir, "bad.zip")
	for name, write := range map[string]func(){
		"not a zip":    func() { os.WriteFile(bad, []byte("not a zip"), 0o644) },
		"a bad record": func() { writeZip(t, bad, map[string]string{"GO-1.json": `{"id":`}) },
		"no records":   func() { writeZip(t, bad, map[string]string{"README": "hello"}) },
	} {
		write()
		if _, err := Install(db, "Go", bad); err == nil {
			t.Errorf("%s: installed", name)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: the error %q does not name the zip", name, err)
		}
		after, _ := os.ReadFile(filepath.Join(db, "Go", "all.zip"))
		if !bytes.Equal(before, after) {
			t.Errorf("%s: the installed zip changed", name)
		}
		if built, _ := indexes(t, db); built {
			t.Errorf("%s: the installed index no longer holds", name)
		}
	}
	left, _ := filepath.Glob(filepath.Join(db, ".*"))
	inEco, _ := filepath.Glob(filepath.Join(db, "Go", ".*"))
	if left = append(left, inEco...); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// FuzzSidecar feeds arbitrary index files, as stored beside an installed
// zip, to matching: one that does not hold is ignored, and one that does
// but names records the zip lacks costs a warning, never a crash.
func FuzzSidecar(f *testing.F) {
	dir := f.TempDir()
	src := filepath.Join(dir, "src.zip")
	zf, _ := os.Create(src)
	zw := zip.NewWriter(zf)
	w, _ := zw.Create("GO-1.json")
	w.Write([]byte(`{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`))
	zw.Close()
	zf.Close()
	db := filepath.Join(dir, "db")
	if _, err := Install(db, "Go", src); err != nil {
		f.Fatal(err)
	}
	zipPath := filepath.Join(db, "Go", "all.zip")
	good, err := os.ReadFile(zipPath + sidecarSuffix)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	// Well formed, but naming records the zip lacks.
	fi, _ := os.Stat(zipPath)
	for _, members := range [][]string{{"../../etc/passwd"}, {""}, {"GO-1.json", "GO-1.json"}, nil} {
		b, _ := encodeIndex(&index{table: nameTable(map[string][]string{"Go/example.com/m": members})}, fi.Size(), fi.ModTime().UnixNano())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(zipPath+sidecarSuffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.Records("Go", []string{"example.com/m"}); err != nil {
			t.Fatal(err)
		}
		d.Status()
	})
}

// TestIndexTable: a stored index finds every name's members, with the
// bytes that delimit its table escaped, and nothing for names it lacks.
func TestIndexTable(t *testing.T) {
	names := map[string][]string{
		"Go/a": {"GO-1.json"}, "Go/a%09b": {"GO-2.json", "x\ty.json"}, "Go/a\tb": {"GO-3.json"},
		"Go/nl\nz": {"%.json"}, "Go/%": {"GO-4.json"}, "PyPI/é": {"PYSEC-1.json"}, "Go/": {"GO-5.json"},
	}
	for i := range 2000 {
		names[fmt.Sprintf("npm/p%d", i*7919%2000)] = []string{fmt.Sprintf("GHSA-%d.json", i), "MAL-1.json"}
	}
	b, err := encodeIndex(&index{table: nameTable(names), Ecosystems: map[string]int{}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := decodeIndex(b)
	if !ok {
		t.Fatalf("decodeIndex refuses what encodeIndex wrote")
	}
	for name, want := range names {
		if got := s.Index.members(name); !slices.Equal(got, want) {
			t.Errorf("members(%q) = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"Go/b", "Go", "", "Go/a\t", "Go/a%09", "npm/p2000", "zzz", "\x00"} {
		if got := s.Index.members(name); got != nil {
			t.Errorf("members(%q) = %q, want none", name, got)
		}
	}
	// Damage anywhere in the table shows.
	for _, damaged := range [][]byte{b[:len(b)-1], append(append([]byte(nil), b...), "Go/z\tGO-9.json\n"...), bytes.Replace(b, []byte("GO-3.json"), []byte("GO-8.json"), 1)} {
		if _, ok := decodeIndex(damaged); ok {
			t.Errorf("decodeIndex accepts a damaged table")
		}
	}
}

// TestImport: a zip is installed under the ecosystem its records name,
// and one whose records name two is refused, leaving nothing behind.
func TestImport(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.zip")
	writeZip(t, one, map[string]string{"PYSEC-1.json": `{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"django"}}]}`})
	two := filepath.Join(dir, "two.zip")
	writeZip(t, two, map[string]string{
		"PYSEC-1.json": `{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"django"}}]}`,
		"GO-1.json":    `{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"example.com/a"}}]}`,
	})
	db := filepath.Join(dir, "db")
	if eco, n, err := Import(db, one); err != nil || eco != "PyPI" || n != 1 {
		t.Errorf("Import(one ecosystem) = %q, %d, %v; want PyPI, 1", eco, n, err)
	}
	if _, err := os.Stat(filepath.Join(db, "PyPI", "all.zip"+sidecarSuffix)); err != nil {
		t.Errorf("Import stored no index: %v", err)
	}
	var ee *EcosystemsError
	if _, _, err := Import(db, two); !errors.As(err, &ee) || !slices.Equal(ee.Ecosystems, []string{"Go", "PyPI"}) {
		t.Errorf("Import(two ecosystems) = %v; want an EcosystemsError naming Go and PyPI", err)
	}
	if left, _ := filepath.Glob(filepath.Join(db, "*")); len(left) != 1 {
		t.Errorf("after the refusal the database holds %q; want PyPI alone", left)
	}
	if left, _ := filepath.Glob(filepath.Join(db, ".*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestPrefetch: an ecosystem's index prefetched in the background is the
// one a later read gets, built once; an ecosystem the database lacks is
// left alone.
func TestPrefetch(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "Go"), 0o755)
	writeZip(t, filepath.Join(dir, "Go", "all.zip"), map[string]string{
		"GO-1.json": `{"id":"GO-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/a"}}]}`,
	})
	var log syncBuffer
	store, err := cas.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir, Options{Cache: store, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	db.Prefetch("PyPI")
	db.Prefetch("Go")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "indexed OSV records") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ix, err := db.index("Go")
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.members("Go/example.com/a"); !slices.Equal(got, []string{"GO-1.json"}) {
		t.Errorf("members of example.com/a = %v, want [GO-1.json]", got)
	}
	if n := strings.Count(log.String(), "indexed OSV records"); n != 1 {
		t.Errorf("the Go index was built %d times, want once:\n%s", n, log.String())
	}
	if strings.Contains(log.String(), "PyPI") {
		t.Errorf("an ecosystem the database lacks was read:\n%s", log.String())
	}
}

// syncBuffer is a bytes.Buffer that a background goroutine may write
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
