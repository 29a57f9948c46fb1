package osvdb

import (
	"path/filepath"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// BenchmarkBuildIndex indexes the shared Go all.zip (4,291 records), the
// work of a first scan after a database change.
func BenchmarkBuildIndex(b *testing.B) {
	src := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv", "Go", "all.zip")
	if _, _, err := buildIndex(src, DefaultMaxRecordSize); err != nil {
		b.Skipf("skipping: the shared OSV data is absent: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := buildIndex(src, DefaultMaxRecordSize); err != nil {
			b.Fatal(err)
		}
	}
}
