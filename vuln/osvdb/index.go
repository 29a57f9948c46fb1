package osvdb

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/customs-dev/customs/internal/hint"
)

// index maps package names to the records that mention them, for one
// ecosystem's source. It is built once per source content and cached.
type index struct {
	Digest  string    `json:"digest"`  // sha256 of the zip, or of the directory listing
	Built   time.Time `json:"built"`   // when it was built
	Newest  time.Time `json:"newest"`  // newest "modified" of the records
	Records int       `json:"records"` // how many records
	// table lists the members that name each "Ecosystem/name", and locs
	// where each member of a zip is (see storedIndex).
	table, locs []byte
	// Ecosystems counts the records that name each base ecosystem.
	Ecosystems map[string]int `json:"ecosystems"`
	Warnings   []string       `json:"warnings"` // records that did not parse
	firstBad   error          // the first of them, when just built
}

// recordHead is what the index reads of each record.
type recordHead struct {
	ID       string         `json:"id"`
	Modified time.Time      `json:"modified"`
	Affected []affectedHead `json:"affected"`
}

type affectedHead struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
}

// decodeHead reads a record's head: parseHead where it can, json.Unmarshal
// (and its error) where it cannot.
func decodeHead(b []byte, h *recordHead) error {
	if parseHead(b, h) {
		return nil
	}
	*h = recordHead{}
	return json.Unmarshal(b, h)
}

// inMemoryZip is the largest zip an index is built from in memory (read
// once for its digest and its records, and kept until the scan's records
// are read) rather than by reads at offsets: the Go and PyPI zips, not the
// larger distributions', whose bytes would add to the peak memory.
var inMemoryZip int64 = 64 << 20

// buildIndex reads every record's head. For a zip read into memory, it
// also returns the zip's bytes, for the records matched next.
func buildIndex(src string, maxRecord int64) (*index, []byte, error) {
	ix := &index{Ecosystems: map[string]int{}, Built: time.Now().UTC()}
	names := map[string][]string{}
	h := sha256.New()
	add := func(member string, b []byte) {
		var head recordHead
		if err := decodeHead(b, &head); err != nil {
			ix.skip(member, src, err)
			return
		}
		addHead(ix, names, member, head)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		entries, err := os.ReadDir(src)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			b, err := readLimited(filepath.Join(src, e.Name()), maxRecord)
			if err != nil {
				ix.skip(e.Name(), src, err)
				continue
			}
			fmt.Fprintf(h, "%s %x\n", e.Name(), sha256.Sum256(b))
			add(e.Name(), b)
		}
		ix.Digest = hex.EncodeToString(h.Sum(nil))
		ix.table = nameTable(names)
		return ix, nil, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var zipAt io.ReaderAt = f
	var data []byte
	if fi.Size() <= inMemoryZip {
		data = make([]byte, fi.Size())
		if _, err := io.ReadFull(f, data); err != nil {
			return nil, nil, err
		}
		h.Write(data)
		zipAt = bytes.NewReader(data)
	} else if _, err := io.Copy(h, f); err != nil {
		return nil, nil, err
	}
	ix.Digest = hex.EncodeToString(h.Sum(nil))
	zr, err := zip.NewReader(zipAt, fi.Size())
	if err != nil {
		return nil, nil, &zipError{src: src, err: err}
	}
	// Decompressing and reading record heads is most of the work: spread it
	// over the cores, then merge in zip order so the index is deterministic.
	type head struct {
		h   recordHead
		at  memberAt
		err error
	}
	heads := make([]head, len(zr.File))
	locs := map[string]memberAt{}
	spread(len(zr.File), func(share iter.Seq[int]) {
		var buf []byte // one record at a time: the head copies what it keeps
		for i := range share {
			zf := zr.File[i]
			if !strings.HasSuffix(zf.Name, ".json") {
				continue
			}
			var b []byte
			at, err := memberOf(zf)
			if err == nil {
				b, buf, err = readAt(zipAt, at, maxRecord, buf)
			}
			if err == nil {
				err = decodeHead(b, &heads[i].h)
			}
			heads[i].at, heads[i].err = at, err
		}
	})
	for i, zf := range zr.File {
		if !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		if heads[i].err != nil {
			ix.skip(zf.Name, src, heads[i].err)
			continue
		}
		addHead(ix, names, zf.Name, heads[i].h)
		locs[zf.Name] = heads[i].at
	}
	ix.table, ix.locs = nameTable(names), locationTable(locs)
	return ix, data, nil
}

// skip records a record that could not be read, with a warning.
func (ix *index) skip(member, src string, err error) {
	ix.Warnings = append(ix.Warnings, fmt.Sprintf("skipping OSV record %s in %s: %v", member, src, err))
	if ix.firstBad == nil {
		ix.firstBad = fmt.Errorf("record %s: %w", member, err)
	}
}

// zipError reports a zip whose directory cannot be read.
type zipError struct {
	src string
	err error
}

func (e *zipError) Error() string {
	return fmt.Sprintf("reading the OSV database %s: %v (the zip is corrupt: run `customs db update` to fetch it again)", e.src, e.err)
}

func (e *zipError) Unwrap() error { return e.err }

func addHead(ix *index, names map[string][]string, member string, head recordHead) {
	ix.Records++
	if head.Modified.After(ix.Newest) {
		ix.Newest = head.Modified
	}
	seen := map[string]bool{}
	for _, a := range head.Affected {
		if e := BaseEcosystem(a.Package.Ecosystem); !seen[e] {
			seen[e] = true
			ix.Ecosystems[e]++
		}
		k := BaseEcosystem(a.Package.Ecosystem) + "/" + a.Package.Name
		if !seen[k] {
			seen[k] = true
			names[k] = append(names[k], member)
		}
	}
}

// BaseEcosystem is an OSV ecosystem without its release ("Debian:12" →
// "Debian"), which names the database's directory.
func BaseEcosystem(e string) string {
	b, _, _ := strings.Cut(e, ":")
	return b
}

func readLimited(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, max)
}

func readAllLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, recordTooLarge(max)
	}
	return b, nil
}

func recordTooLarge(max int64) error {
	return hint.New(fmt.Errorf("the record is larger than the limit of %d bytes", max), "max-osv-record-size", "raise the %s limit")
}
