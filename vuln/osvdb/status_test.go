package osvdb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStatusCountsJSONDirectoryByEcosystem checks that a directory of JSON
// records holding two ecosystems reports each one's own count.
func TestStatusCountsJSONDirectoryByEcosystem(t *testing.T) {
	dir := t.TempDir()
	records := map[string]string{
		"GO-1.json":    `{"id":"GO-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/a"}}]}`,
		"GO-2.json":    `{"id":"GO-2","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/b"}},{"package":{"ecosystem":"Go","name":"example.com/c"}}]}`,
		"PYSEC-1.json": `{"id":"PYSEC-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"django"}}]}`,
	}
	for name, body := range records {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range st {
		got[s.Ecosystem] = s.Records
	}
	if len(got) != 2 || got["Go"] != 2 || got["PyPI"] != 1 {
		t.Errorf("status counts = %v, want Go: 2, PyPI: 1", got)
	}
}
