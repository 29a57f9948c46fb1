package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/cas"
)

// FuzzRecord feeds arbitrary OSV records, loose and zipped, to indexing
// and matching: a bad record is skipped with a warning, never a crash.
func FuzzRecord(f *testing.F) {
	f.Add([]byte(`{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.3"}]}],"versions":["1.0.0"]}],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`))
	f.Add([]byte(`{"id":"GO-2","withdrawn":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0.0"},{"last_affected":"1.1"}]}]}]}`))
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"GIT","events":[{"introduced":"abc"}]},{"type":"SEMVER","events":[{"fixed":"not a version"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "r.json"), b, 0o644)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("r.json")
		w.Write(b)
		zw.Close()
		os.MkdirAll(filepath.Join(dir, "z", "Go"), 0o755)
		os.WriteFile(filepath.Join(dir, "z", "Go", "all.zip"), buf.Bytes(), 0o644)
		pkgs := []Package{{Name: "example.com/m", Version: "1.0.5", Ecosystem: "Go"}, {Name: "example.com/m", Ecosystem: "Go"}}
		for _, d := range []string{dir, filepath.Join(dir, "z")} {
			db, err := Open(d, Options{})
			if err != nil {
				continue
			}
			db.Match(context.Background(), pkgs)
		}
	})
}

// TestMaxRecordSize skips a record over the bound with a warning that
// names the flag, and an index built under another bound is not reused.
func TestMaxRecordSize(t *testing.T) {
	dir := t.TempDir()
	big := `{"id":"GO-2099-0001","modified":"2026-01-01T00:00:00Z","details":"` + strings.Repeat("x", 4096) + `","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"}}]}`
	os.WriteFile(filepath.Join(dir, "GO-2099-0001.json"), []byte(big), 0o644)
	cache, err := cas.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max  int64
		warn bool
	}{{1024, true}, {0, false}, {1024, true}} {
		db, err := Open(dir, Options{Cache: cache, MaxRecordSize: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		ix, err := db.index("")
		if err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(strings.Join(ix.Warnings, "\n"), "raise it with --max-osv-record-size")
		if warned != tc.warn || (ix.Records == 1) == tc.warn {
			t.Errorf("max %d: %d records, warnings %q", tc.max, ix.Records, ix.Warnings)
		}
	}
}
