package testimage

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// GoVulnRecords unpacks the shared Go vulnerability data
// (../shared/testdata/osv/Go/all.zip) into a directory of OSV records,
// which govulncheck reads as a database, and returns the directory of the
// zip's ecosystems (for customs) and the unpacked one. It skips the test
// when the shared data is absent.
func GoVulnRecords(t testing.TB) (zipDir, recordDir string) {
	t.Helper()
	zipDir = filepath.Join(Root(), "..", "shared", "testdata", "osv")
	zr, err := zip.OpenReader(filepath.Join(zipDir, "Go", "all.zip"))
	if err != nil {
		t.Skipf("skipping: the shared Go vulnerability data (../shared/testdata/osv/Go/all.zip) is absent: %v", err)
	}
	defer zr.Close()
	recordDir = t.TempDir()
	for _, f := range zr.File {
		if strings.Contains(f.Name, "/") || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(recordDir, f.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return zipDir, recordDir
}
