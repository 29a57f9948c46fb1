package osvdb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/hint"
)

// ErrNoDatabase reports a database directory that holds no OSV data.
var ErrNoDatabase = errors.New("no OSV database")

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
		return nil, hint.New(fmt.Errorf("opening the OSV database %s: %w", dir, err), "db", "run `customs db update`, or pass %s DIR")
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

// Has reports whether the database can answer for an ecosystem: it has the
// ecosystem's zip, or its directory of records has records of it.
func (db *DB) Has(base string) bool {
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

// Prefetch starts reading, or building, the index that answers for an
// ecosystem in the background, for a caller that will match packages of
// it soon: a scan that has seen a Go executable while its SBOM is still
// being made. Match then finds the index ready, or waits for it. An
// ecosystem the database has no source for is left alone.
func (db *DB) Prefetch(base string) {
	if _, src := db.sourceFor(base); src == "" {
		return
	}
	go db.index(base)
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
	encode := func(ix *index) ([]byte, error) { return encodeIndex(ix, 0, 0) }
	ix, err := cas.MemoWith(db.cache, "osv-index", fp, encode, decodeCached, func() (*index, error) {
		start := time.Now()
		ix, data, err := buildIndex(src, db.maxRecord)
		if err != nil {
			return nil, err
		}
		if data != nil {
			db.held[src] = data
		}
		db.logger.Debug("indexed OSV records", "source", src, "records", ix.Records, "took", time.Since(start))
		return ix, nil
	})
	if err != nil {
		return nil, err
	}
	db.indexes[key] = ix
	return ix, nil
}

// errStaleIndex marks a cached index that does not decode.
var errStaleIndex = errors.New("cached index does not decode")

// decodeCached reads an index from the cache.
func decodeCached(b []byte) (*index, error) {
	s, ok := decodeIndex(b)
	if !ok {
		return nil, errStaleIndex
	}
	return s.Index, nil
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
