package cas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFileToDevice writes to /dev/null without replacing it, and to a
// regular file through a rename.
func TestWriteFileToDevice(t *testing.T) {
	if err := WriteFile("/dev/null", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a device: %v %v", fi, err)
	}
	p := filepath.Join(t.TempDir(), "out.json")
	if err := WriteFile(p, []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "y" {
		t.Errorf("wrote %q", b)
	}
}

// TestBlobPathStaysInside keeps digests that are not 64 hex digits out of
// the file system: no path outside the store is opened or removed.
func TestBlobPathStaysInside(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep me"), 0o644)
	for _, hex := range []string{"../../../victim", strings.Repeat("./", 26) + "../../../victim", "/dev/null", strings.Repeat("A", 64), ""} {
		if p := s.BlobPath(hex); !strings.HasPrefix(p, s.Dir()+string(filepath.Separator)) || strings.Contains(p, "victim") {
			t.Errorf("BlobPath(%q) = %s", hex, p)
		}
		if err := s.VerifyBlob(hex); err == nil {
			t.Errorf("VerifyBlob(%q) passed", hex)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Errorf("the file outside the store was touched: %q %v", b, err)
	}
}
