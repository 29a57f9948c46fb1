package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
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
