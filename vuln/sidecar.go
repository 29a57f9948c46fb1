package vuln

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// An installed all.zip keeps its index beside it, in all.zip.index:
// `customs db update` and `customs db import` build it when they install a
// revision, so that a scan, however cold its cache, reads only the records
// of its packages. The index is the database's, not a scan's: it is as
// valid as the zip it names by size and modification time, and is ignored
// (the index is then built into the cache) once the zip changes. Scans do
// not write beside a database, which may be another tool's or shared.
const sidecarSuffix = ".index"

// maxSidecar bounds an index file read back (the Debian index, the
// largest, is a few MiB).
const maxSidecar = 256 << 20

type sidecar struct {
	Format  string `json:"format"`
	Size    int64  `json:"size"`  // of the zip
	ModTime int64  `json:"mtime"` // of the zip, in nanoseconds
	Index   *index `json:"index"`
}

// readSidecar returns the index stored beside the zip src, or nil when
// there is none or it is not the zip's as it is now.
func readSidecar(src string) *index {
	fi, err := os.Stat(src)
	if err != nil || fi.IsDir() {
		return nil
	}
	b, err := readLimited(src+sidecarSuffix, maxSidecar)
	if err != nil {
		return nil
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil || sc.Format != indexFormat || sc.Index == nil || sc.Index.Names == nil ||
		sc.Size != fi.Size() || sc.ModTime != fi.ModTime().UnixNano() {
		return nil
	}
	return sc.Index
}

// writeSidecar stores ix beside the zip src, atomically.
func writeSidecar(src string, ix *index) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	b, err := json.Marshal(sidecar{Format: indexFormat, Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Index: ix})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(src), "."+filepath.Base(src)+sidecarSuffix+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), src+sidecarSuffix)
	}
	if err != nil {
		return fmt.Errorf("storing the index of %s: %w", src, err)
	}
	return nil
}
