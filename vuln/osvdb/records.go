package osvdb

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sort"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
)

// Record is a record read for matching: what matching needs of it, and
// its bytes, decoded in full only if it affects a package.
type Record struct {
	member string
	src    string // the zip or directory it is from, for warnings
	view   *osvpb.Vulnerability
	raw    []byte
	full   *osvpb.Vulnerability // once decoded
	err    error
}

var recordJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

// View is what matching needs of the record: its id, whether it is
// withdrawn, and each affected package's name, ranges and versions.
func (r *Record) View() *osvpb.Vulnerability { return r.view }

// Full decodes the whole record, once; Decode does it for many at a time.
func (r *Record) Full() (*osvpb.Vulnerability, error) {
	r.decode()
	return r.full, r.err
}

// Decode decodes records in full, over the cores.
func Decode(recs []*Record) {
	spread(len(recs), func(share iter.Seq[int]) {
		for i := range share {
			recs[i].decode()
		}
	})
}

// decode reads the whole record.
func (r *Record) decode() {
	if r.full != nil || r.err != nil {
		return
	}
	v := &osvpb.Vulnerability{}
	if r.err = recordJSON.Unmarshal(r.raw, v); r.err == nil {
		r.full = v
	}
	r.raw = nil
}

// Records reads the records that mention any of the named packages in an
// ecosystem ("Go", "Debian"), sorted by their file names. Records that
// cannot be read are left out, each with a warning.
func (db *DB) Records(ecosystem string, names []string) ([]*Record, []string, error) {
	ix, err := db.index(ecosystem)
	if err != nil {
		return nil, nil, err
	}
	members := map[string]bool{}
	for _, n := range names {
		for _, m := range ix.members(ecosystem + "/" + n) {
			members[m] = true
		}
	}
	if len(members) == 0 {
		return nil, nil, nil
	}
	_, src := db.sourceFor(ecosystem)
	read := func(m string) ([]byte, error) { return readLimited(filepath.Join(src, filepath.Base(m)), db.maxRecord) }
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		// The index says where each record is, which spares reading the
		// zip's directory (Debian's has 80,000 members) to find a few.
		db.mu.Lock()
		data := db.held[src]
		db.mu.Unlock()
		var zr io.ReaderAt = bytes.NewReader(data)
		if data == nil {
			f, err := os.Open(src)
			if err != nil {
				return nil, nil, err
			}
			defer f.Close()
			zr = f
		}
		read = func(m string) ([]byte, error) {
			at, ok := ix.location(m)
			if !ok {
				return nil, fs.ErrNotExist
			}
			b, _, err := readAt(zr, at, db.maxRecord, nil)
			return b, err
		}
	}
	sorted := make([]string, 0, len(members))
	for m := range members {
		sorted = append(sorted, m)
	}
	sort.Strings(sorted)
	// Decompressing the records (hundreds for a Go binary's stdlib) and
	// reading what matching needs of them is spread over the cores; the
	// order stays the sorted one. A record matchView cannot read is
	// decoded in full here.
	recs := make([]*Record, len(sorted))
	spread(len(sorted), func(share iter.Seq[int]) {
		for i := range share {
			r := &Record{member: sorted[i], src: src}
			recs[i] = r
			if r.raw, r.err = read(sorted[i]); r.err != nil {
				continue
			}
			if v, ok := matchView(r.raw); ok {
				r.view = v
				continue
			}
			r.decode()
			r.view = r.full
		}
	})
	var out []*Record
	var warnings []string
	for _, r := range recs {
		if r.err != nil {
			warnings = append(warnings, r.Warning())
			continue
		}
		out = append(out, r)
	}
	return out, warnings, nil
}

// Warning is the warning for a record that could not be read.
func (r *Record) Warning() string {
	return fmt.Sprintf("skipping OSV record %s in %s: %v", r.member, r.src, r.err)
}

// Warnings are the records of an ecosystem's source that the index skipped
// (they did not parse), kept with the index so that every scan warns of
// them, not only the one that built it.
func (db *DB) Warnings(ecosystem string) []string {
	ix, err := db.index(ecosystem)
	if err != nil {
		return nil
	}
	return ix.Warnings
}
