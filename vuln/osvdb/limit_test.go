package osvdb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/cas"
)

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
		warned := strings.Contains(strings.Join(ix.Warnings, "\n"), "raise the max-osv-record-size limit")
		if warned != tc.warn || (ix.Records == 1) == tc.warn {
			t.Errorf("max %d: %d records, warnings %q", tc.max, ix.Records, ix.Warnings)
		}
	}
}
