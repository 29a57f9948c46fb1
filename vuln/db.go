package vuln

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	kflate "github.com/klauspost/compress/flate"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/customs-dev/customs/internal/cas"
)

// ErrNoDatabase reports a database directory that holds no OSV data.
var ErrNoDatabase = errors.New("no OSV database")

// MissingEcosystemError reports ecosystems that the SBOM has packages of
// but the database lacks: those packages were not matched.
type MissingEcosystemError struct {
	Dir string
	// Ecosystems are the base ecosystems ("Debian"), sorted; Packages
	// counts the packages of each.
	Ecosystems []string
	Packages   map[string]int
}

func (e *MissingEcosystemError) Error() string {
	return fmt.Sprintf("the OSV database in %s has no data for %s: run `customs db update --ecosystem %s`, or `customs db import` an all.zip from osv-vulnerabilities",
		e.Dir, strings.Join(e.Ecosystems, ", "), strings.Join(e.Ecosystems, " --ecosystem "))
}

// indexFormat changes with the index's layout, so that indexes cached by
// older builds are rebuilt.
const indexFormat = "index-5"

// DefaultMaxRecordSize bounds one OSV record unless Options say otherwise.
const DefaultMaxRecordSize = 16 << 20

// DB is an opened OSV database.
type DB struct {
	Dir string
	// sources are the zips or JSON directories by ecosystem ("Go", "PyPI",
	// "Debian"); a plain directory of records is under "".
	sources map[string]string
	cache   *cas.Store
	logger  *slog.Logger
	// maxRecord bounds one record.
	maxRecord int64

	mu      sync.Mutex
	indexes map[string]*index
	// held holds the zips an index was just built from, read into memory:
	// the records matched next are read from them.
	held map[string][]byte
}

// Options configure Open.
type Options struct {
	// Cache keeps package indexes between runs; nil builds them in memory.
	Cache  *cas.Store
	Logger *slog.Logger
	// MaxRecordSize bounds one record (0 is DefaultMaxRecordSize); larger
	// records are skipped with a warning.
	MaxRecordSize int64
}

// Open opens the database in dir: osv-scanner's offline layout
// (DIR/<Ecosystem>/all.zip, also under DIR/osv-scanner/ or
// DIR/osv-scalibr/) or a directory of OSV JSON records.
func Open(dir string, opts Options) (*DB, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the OSV database %s: %w (run `customs db update`, or pass --db DIR)", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("opening the OSV database: %s is not a directory", dir)
	}
	db := &DB{Dir: dir, sources: map[string]string{}, cache: opts.Cache, logger: opts.Logger, indexes: map[string]*index{}, held: map[string][]byte{}, maxRecord: opts.MaxRecordSize}
	if db.maxRecord <= 0 {
		db.maxRecord = DefaultMaxRecordSize
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	for _, base := range []string{dir, filepath.Join(dir, "osv-scanner"), filepath.Join(dir, "osv-scalibr")} {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			z := filepath.Join(base, e.Name(), "all.zip")
			if _, err := os.Stat(z); err == nil {
				if _, dup := db.sources[e.Name()]; !dup {
					db.sources[e.Name()] = z
				}
			}
		}
	}
	if len(db.sources) == 0 {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(matches) == 0 {
			return nil, fmt.Errorf("%w in %s: expected <Ecosystem>/all.zip or OSV JSON files (run `customs db update`, or `customs db import`)", ErrNoDatabase, dir)
		}
		db.sources[""] = dir
	}
	return db, nil
}

// Ecosystems lists the ecosystems the database has, sorted.
func (db *DB) Ecosystems() []string {
	var out []string
	for e := range db.sources {
		if e != "" {
			out = append(out, e)
		}
	}
	if _, plain := db.sources[""]; plain {
		if ix, err := db.index(""); err == nil {
			for e := range ix.Ecosystems {
				out = append(out, e)
			}
		}
	}
	sort.Strings(out)
	return out
}

// has reports whether the database can answer for an ecosystem: it has the
// ecosystem's zip, or its directory of records has records of it.
func (db *DB) has(base string) bool {
	if _, ok := db.sources[base]; ok {
		return true
	}
	if _, plain := db.sources[""]; !plain {
		return false
	}
	ix, err := db.index("")
	if err != nil {
		return false
	}
	return ix.Ecosystems[base] > 0
}

// Revision identifies the database's content: a digest of the indexes'
// content digests, so that caches can key on it.
func (db *DB) Revision(ecosystems []string) (string, error) {
	h := sha256.New()
	for _, e := range ecosystems {
		ix, err := db.index(e)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %s\n", e, ix.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

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

func (db *DB) sourceFor(base string) (string, string) {
	if p, ok := db.sources[base]; ok {
		return base, p
	}
	return "", db.sources[""]
}

func (db *DB) index(base string) (*index, error) {
	key, src := db.sourceFor(base)
	db.mu.Lock()
	defer db.mu.Unlock()
	if ix, ok := db.indexes[key]; ok {
		return ix, nil
	}
	fp, err := fingerprint(src)
	if err != nil {
		return nil, err
	}
	fp = indexFormat + " " + fp
	if db.maxRecord != DefaultMaxRecordSize {
		// Another bound skips other records: another index.
		fp += fmt.Sprintf(" max-record %d", db.maxRecord)
	} else if ix := readSidecar(src); ix != nil {
		db.indexes[key] = ix
		return ix, nil
	}
	if db.cache != nil {
		if b, err := db.cache.Get("osv-index", fp); err == nil {
			if s, ok := decodeIndex(b); ok {
				db.indexes[key] = s.Index
				return s.Index, nil
			}
		}
	}
	start := time.Now()
	ix, data, err := buildIndex(src, db.maxRecord)
	if err != nil {
		return nil, err
	}
	if data != nil {
		db.held[src] = data
	}
	db.logger.Debug("indexed OSV records", "source", src, "records", ix.Records, "took", time.Since(start))
	if db.cache != nil {
		if b, err := encodeIndex(ix, 0, 0); err == nil {
			db.cache.Put("osv-index", fp, b)
		}
	}
	db.indexes[key] = ix
	return ix, nil
}

// fingerprint identifies a source by path, size and modification time,
// so that an unchanged database is not read again to find its index.
func fingerprint(src string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return fmt.Sprintf("zip %s %d %d", src, fi.Size(), fi.ModTime().UnixNano()), nil
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
		}
	}
	return fmt.Sprintf("dir %s %x", src, h.Sum(nil)), nil
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

// inflaters are klauspost/compress's inflaters, faster than
// compress/flate, kept for reuse.
var inflaters sync.Pool

// pooledInflater is an inflater and the buffered reader it reads through,
// kept together: given a bufio.Reader, klauspost's inflater allocates
// nothing on Reset.
type pooledInflater struct {
	fr io.ReadCloser
	br *bufio.Reader
}

func newInflater(r io.Reader) io.ReadCloser {
	if p, ok := inflaters.Get().(*pooledInflater); ok {
		p.br.Reset(r)
		if p.fr.(kflate.Resetter).Reset(p.br, nil) == nil {
			return p
		}
	}
	br := bufio.NewReaderSize(r, 4096)
	return &pooledInflater{fr: kflate.NewReader(br), br: br}
}

func (p *pooledInflater) Read(b []byte) (int, error) { return p.fr.Read(b) }

func (p *pooledInflater) Close() error {
	err := p.fr.Close()
	p.br.Reset(nil)
	inflaters.Put(p)
	return err
}

// spread runs worker on every core, each over its share of 0..n-1.
func spread(n int, worker func(share iter.Seq[int])) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			worker(func(yield func(int) bool) {
				for i := w; i < n; i += workers {
					if !yield(i) {
						return
					}
				}
			})
		})
	}
	wg.Wait()
}

func addHead(ix *index, names map[string][]string, member string, head recordHead) {
	ix.Records++
	if head.Modified.After(ix.Newest) {
		ix.Newest = head.Modified
	}
	seen := map[string]bool{}
	for _, a := range head.Affected {
		if e := baseEcosystem(a.Package.Ecosystem); !seen[e] {
			seen[e] = true
			ix.Ecosystems[e]++
		}
		k := baseEcosystem(a.Package.Ecosystem) + "/" + a.Package.Name
		if !seen[k] {
			seen[k] = true
			names[k] = append(names[k], member)
		}
	}
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
	return fmt.Errorf("the record is larger than the limit of %d bytes (raise it with --max-osv-record-size)", max)
}

// record is a record read for matching: what matching needs of it, and
// its bytes, decoded in full only if it affects a package.
type record struct {
	member string
	view   *osvpb.Vulnerability
	raw    []byte
	full   *osvpb.Vulnerability // once decoded
	err    error
}

var recordJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

// decode reads the whole record.
func (r *record) decode() {
	if r.full != nil || r.err != nil {
		return
	}
	v := &osvpb.Vulnerability{}
	if r.err = recordJSON.Unmarshal(r.raw, v); r.err == nil {
		r.full = v
	}
	r.raw = nil
}

// records reads the records that mention any of names ("Ecosystem/name")
// in one ecosystem's source.
func (db *DB) records(base string, names []string) ([]*record, []string, error) {
	ix, err := db.index(base)
	if err != nil {
		return nil, nil, err
	}
	members := map[string]bool{}
	for _, n := range names {
		for _, m := range ix.members(n) {
			members[m] = true
		}
	}
	if len(members) == 0 {
		return nil, nil, nil
	}
	_, src := db.sourceFor(base)
	read := func(m string) ([]byte, error) { return readLimited(filepath.Join(src, filepath.Base(m)), db.maxRecord) }
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		// The index says where each record is: reading the zip's directory
		// to find a few took 2.5 ms for Go's 4,291 members and 25 ms for
		// 80,000 (Debian's size).
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
	recs := make([]*record, len(sorted))
	spread(len(sorted), func(share iter.Seq[int]) {
		for i := range share {
			r := &record{member: sorted[i]}
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
	var out []*record
	var warnings []string
	for _, r := range recs {
		if r.err != nil {
			warnings = append(warnings, r.skipping(src))
			continue
		}
		out = append(out, r)
	}
	return out, warnings, nil
}

// skipping is the warning for a record that could not be read.
func (r *record) skipping(src string) string {
	return fmt.Sprintf("skipping OSV record %s in %s: %v", r.member, src, r.err)
}

// Newest is the time of the newest data: the newest "modified" date of any
// record, or, where records carry none (the Go database's are zero), the
// time the source file was last written.
func (db *DB) Newest(ecosystems []string) (time.Time, error) {
	var newest time.Time
	for _, e := range ecosystems {
		_, src := db.sourceFor(e)
		ix, err := db.index(e)
		if err != nil {
			return time.Time{}, err
		}
		t := ix.Newest
		if t.Year() < 1990 {
			if fi, err := os.Stat(src); err == nil {
				t = fi.ModTime()
			}
		}
		if t.After(newest) {
			newest = t
		}
	}
	return newest, nil
}
