package osvdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// An installed all.zip keeps its index beside it, in all.zip.index:
// `customs db update` and `customs db import` build it when they install a
// revision, so that a scan, however cold its cache, reads only the records
// of its packages. The index is the database's, not a scan's: it is as
// valid as the zip it names by size and modification time, and is ignored
// (the index is then built into the cache) once the zip changes. Scans do
// not write beside a database, which may be another tool's or shared.
const sidecarSuffix = ".index"

// maxSidecar bounds an index file read back.
const maxSidecar = 256 << 20

// A stored index (beside a zip, or in the cache) is a line of JSON, the
// header, then a table: one line per package name, sorted,
//
//	Ecosystem/name TAB member TAB member ... LF
//
// then, for a zip, one line per member, sorted, saying where it is:
//
//	member TAB offset TAB compressed size TAB size TAB CRC-32 TAB method LF
//
// with "%", TAB and LF in names written %25, %09 and %0A. A scan looks its
// few names up by bisection and decodes nothing else, where decoding the
// JSON map this replaces grew with an ecosystem's size (npm's and Debian's
// are many times Go's).
type storedIndex struct {
	Format  string `json:"format"`
	Size    int64  `json:"size,omitempty"`  // of the zip, beside which it is stored
	ModTime int64  `json:"mtime,omitempty"` // of the zip, in nanoseconds
	Names   int    `json:"names_bytes"`     // the names table's length; the members' places follow it
	Table   uint32 `json:"table_crc32"`     // damage shows
	Index   *index `json:"index"`
}

var (
	nameEscaper   = strings.NewReplacer("%", "%25", "\t", "%09", "\n", "%0A")
	nameUnescaper = strings.NewReplacer("%25", "%", "%09", "\t", "%0A", "\n")
)

// nameTable writes the names table of an index being built.
func nameTable(names map[string][]string) []byte {
	var buf bytes.Buffer
	for _, k := range byEscapedKey(names) {
		buf.WriteString(k.escaped)
		for _, m := range names[k.key] {
			buf.WriteByte('\t')
			buf.WriteString(nameEscaper.Replace(m))
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// locationTable writes the members table of an index being built.
func locationTable(at map[string]memberAt) []byte {
	var buf bytes.Buffer
	for _, k := range byEscapedKey(at) {
		a := at[k.key]
		fmt.Fprintf(&buf, "%s\t%d\t%d\t%d\t%d\t%d\n", k.escaped, a.Offset, a.Compressed, a.Size, a.CRC, a.Method)
	}
	return buf.Bytes()
}

type escapedKey struct{ key, escaped string }

// byEscapedKey lists a map's keys in the order of a table's lines.
func byEscapedKey[V any](m map[string]V) []escapedKey {
	keys := make([]escapedKey, 0, len(m))
	for k := range m {
		keys = append(keys, escapedKey{k, nameEscaper.Replace(k)})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].escaped < keys[j].escaped })
	return keys
}

// encodeIndex writes ix as stored, with the size and mtime of its zip
// (zero for the cache, whose key says which zip).
func encodeIndex(ix *index, size, mtime int64) ([]byte, error) {
	rest := append(append([]byte(nil), ix.table...), ix.locs...)
	head, err := json.Marshal(storedIndex{Format: indexFormat, Size: size, ModTime: mtime, Names: len(ix.table), Table: crc32.ChecksumIEEE(rest), Index: ix})
	if err != nil {
		return nil, err
	}
	return append(append(head, '\n'), rest...), nil
}

// decodeIndex reads a stored index, checking its format and its table.
func decodeIndex(b []byte) (*storedIndex, bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, false
	}
	var s storedIndex
	if json.Unmarshal(b[:i], &s) != nil || s.Format != indexFormat || s.Index == nil {
		return nil, false
	}
	rest := b[i+1:]
	if crc32.ChecksumIEEE(rest) != s.Table || s.Names < 0 || s.Names > len(rest) {
		return nil, false
	}
	table, locs := rest[:s.Names], rest[s.Names:]
	for _, t := range [][]byte{table, locs} {
		if len(t) > 0 && t[len(t)-1] != '\n' {
			return nil, false
		}
	}
	s.Index.table, s.Index.locs = table, locs
	return &s, true
}

// members lists the records that name a package ("Ecosystem/name").
func (ix *index) members(name string) []string {
	line := lookup(ix.table, nameEscaper.Replace(name))
	if line == nil {
		return nil
	}
	fields := strings.Split(string(line), "\t")[1:]
	for i, f := range fields {
		fields[i] = nameUnescaper.Replace(f)
	}
	return fields
}

// lookup finds by bisection the line of a sorted table whose first field
// is key, without its LF.
func lookup(table []byte, key string) []byte {
	lo, hi := 0, len(table) // lo is always the start of a line
	for lo < hi {
		mid := lo + (hi-lo)/2
		start := lo + bytes.LastIndexByte(table[lo:mid], '\n') + 1
		end := bytes.IndexByte(table[start:], '\n')
		if end < 0 {
			return nil
		}
		line := table[start : start+end]
		k := line
		if t := bytes.IndexByte(line, '\t'); t >= 0 {
			k = line[:t]
		}
		switch c := strings.Compare(string(k), key); {
		case c == 0:
			return line
		case c < 0:
			lo = start + end + 1
		default:
			hi = start
		}
	}
	return nil
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
	s, ok := decodeIndex(b)
	if !ok || s.Size != fi.Size() || s.ModTime != fi.ModTime().UnixNano() {
		return nil
	}
	return s.Index
}

// writeSidecar stores ix beside the zip src, atomically, for the zip fi
// describes.
func writeSidecar(src string, ix *index, fi os.FileInfo) error {
	b, err := encodeIndex(ix, fi.Size(), fi.ModTime().UnixNano())
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

// location says where a member is in its zip.
func (ix *index) location(member string) (memberAt, bool) {
	return parseMemberAt(lookup(ix.locs, nameEscaper.Replace(member)))
}

// parseMemberAt reads "member TAB offset TAB compressed TAB size TAB crc
// TAB method".
func parseMemberAt(line []byte) (memberAt, bool) {
	f := strings.Split(string(line), "\t")
	if len(f) != 6 {
		return memberAt{}, false
	}
	var n [5]uint64
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return memberAt{}, false
		}
		n[i] = v
	}
	if n[3] > math.MaxUint32 || n[4] > math.MaxUint16 {
		return memberAt{}, false
	}
	return memberAt{Offset: int64(n[0]), Compressed: int64(n[1]), Size: int64(n[2]), CRC: uint32(n[3]), Method: uint16(n[4])}, true
}
