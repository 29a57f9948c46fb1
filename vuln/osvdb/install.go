package osvdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/customs-dev/customs/internal/hint"
)

// DefaultBaseURL serves each ecosystem's all.zip, as osv-scanner fetches it.
const DefaultBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultEcosystems are updated when the database has none yet.
var DefaultEcosystems = []string{"Go", "PyPI", "npm", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist", "Debian", "Ubuntu", "Alpine"}

// maxZipSize bounds a downloaded or imported all.zip.
const maxZipSize = 4 << 30

// checkedIndex indexes the zip at path (named as name in errors), strictly:
// a record that does not parse fails it, where a scan skips the record.
func checkedIndex(path, name string) (*index, error) {
	ix, _, err := buildIndex(path, DefaultMaxRecordSize)
	if err != nil {
		var ze *zipError
		if errors.As(err, &ze) {
			return nil, fmt.Errorf("%s is not a valid zip: %w", name, ze.err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if ix.firstBad != nil {
		return nil, fmt.Errorf("%s: %w", name, ix.firstBad)
	}
	if ix.Records == 0 {
		return nil, fmt.Errorf("%s holds no OSV records", name)
	}
	return ix, nil
}

// Install checks an all.zip and swaps it in as dbDir/<ecosystem>/all.zip,
// with its index beside it. The previous copy is kept as all.zip.prev
// until the new one is in place; a zip that does not check out leaves the
// database as it was.
func Install(dbDir, ecosystem, zipPath string) (int, error) {
	if err := checkEcosystem(ecosystem); err != nil {
		return 0, err
	}
	_, n, err := install(dbDir, ecosystem, zipPath)
	return n, err
}

// Import installs an all.zip as Install does, under the ecosystem its
// records name; a zip whose records name several is an *EcosystemsError.
// The zip is read once, to check it, index it and find its ecosystem.
func Import(dbDir, zipPath string) (string, int, error) {
	return install(dbDir, "", zipPath)
}

// EcosystemsError reports a zip whose records name other than one
// ecosystem, when it was to be installed under the one they name.
type EcosystemsError struct {
	Zip        string
	Ecosystems []string
}

func (e *EcosystemsError) Error() string {
	return fmt.Sprintf("%s: its records name %d ecosystems (%s)", e.Zip, len(e.Ecosystems), strings.Join(e.Ecosystems, ", "))
}

// checkEcosystem refuses a name that is not one directory's.
func checkEcosystem(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("invalid ecosystem name %q", name)
	}
	return nil
}

func install(dbDir, ecosystem, zipPath string) (string, int, error) {
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(dbDir, ".all.zip-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	src, err := os.Open(zipPath)
	if err != nil {
		tmp.Close()
		return "", 0, err
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	// The copy is what gets installed, so the copy is what is checked and
	// indexed: one pass over the records.
	ix, err := checkedIndex(tmp.Name(), zipPath)
	if err != nil {
		return "", 0, err
	}
	if ecosystem == "" {
		ecos := slices.Sorted(maps.Keys(ix.Ecosystems))
		if len(ecos) != 1 {
			return "", 0, &EcosystemsError{Zip: zipPath, Ecosystems: ecos}
		}
		ecosystem = ecos[0]
	}
	if err := checkEcosystem(ecosystem); err != nil {
		return "", 0, err
	}
	// Readable by all, as the database directory is: an admission server
	// may read it as another user.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", 0, err
	}
	// The index names the zip it was built from by the copy's size and
	// mtime, which the rename keeps: another install that renames its own
	// zip in meanwhile then makes this index stale, not wrong.
	fi, err := os.Stat(tmp.Name())
	if err != nil {
		return "", 0, err
	}
	dir := filepath.Join(dbDir, ecosystem)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	dst := filepath.Join(dir, "all.zip")
	if _, err := os.Stat(dst); err == nil {
		if err := os.Link(dst, dst+".prev"); err != nil {
			os.Remove(dst + ".prev")
			os.Link(dst, dst+".prev")
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	if err := writeSidecar(dst, ix, fi); err != nil {
		return ecosystem, ix.Records, &IndexError{Zip: dst, Err: err}
	}
	return ecosystem, ix.Records, nil
}

// IndexError reports a zip that was installed without its index: the
// data is in, and scans index it themselves, into their cache.
type IndexError struct {
	Zip string
	Err error
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("%s is installed, but its index is not: %v (scans will index it themselves)", e.Zip, e.Err)
}

func (e *IndexError) Unwrap() error { return e.Err }

// Update downloads each ecosystem's all.zip from baseURL and installs it.
// An ecosystem installed without its index is counted, and its
// *IndexError joined to the error.
func Update(ctx context.Context, dbDir string, ecosystems []string, baseURL string, client *http.Client, progress func(eco string, n int64)) (map[string]int, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if client == nil {
		client = http.DefaultClient
	}
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var errs []error
	for _, eco := range ecosystems {
		n, err := updateOne(ctx, dbDir, eco, strings.TrimSuffix(baseURL, "/"), client, progress)
		if err != nil {
			errs = append(errs, fmt.Errorf("updating %s: %w", eco, err))
			if ie := (*IndexError)(nil); !errors.As(err, &ie) {
				continue
			}
		}
		counts[eco] = n
	}
	return counts, errors.Join(errs...)
}

// redact hides the password of a URL with credentials, for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

func updateOne(ctx context.Context, dbDir, eco, baseURL string, client *http.Client, progress func(string, int64)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/"+eco+"/all.zip", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "customs")
	resp, err := client.Do(req)
	if err != nil {
		return 0, hint.New(fmt.Errorf("cannot reach %s: %w", redact(baseURL), err), "base-url", "use %s for a mirror, or `customs db import` offline")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/%s/all.zip: %s", redact(baseURL), eco, resp.Status)
	}
	tmp, err := os.CreateTemp(dbDir, ".download-*.zip")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	var r io.Reader = io.LimitReader(resp.Body, maxZipSize+1)
	if progress != nil {
		r = &countReader{r: r, f: func(n int64) { progress(eco, n) }}
	}
	n, err := io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if n > maxZipSize {
		return 0, fmt.Errorf("all.zip is larger than %d bytes", int64(maxZipSize))
	}
	return Install(dbDir, eco, tmp.Name())
}

type countReader struct {
	r io.Reader
	n int64
	f func(int64)
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.f(c.n)
	return n, err
}

// Status describes one ecosystem of a database.
type Status struct {
	Ecosystem string    `json:"ecosystem"`
	Source    string    `json:"source"`
	Records   int       `json:"records"`
	Newest    time.Time `json:"newest"`
	Written   time.Time `json:"written"`
}

// Status describes every ecosystem of the database.
func (db *DB) Status() ([]Status, error) {
	var out []Status
	for _, e := range db.Ecosystems() {
		ix, err := db.index(e)
		if err != nil {
			return nil, err
		}
		key, src := db.sourceFor(e)
		// An all.zip holds one ecosystem; a directory of JSON records may
		// hold several, counted apart (newest is over the whole directory).
		st := Status{Ecosystem: e, Source: src, Records: ix.Records, Newest: ix.Newest}
		if key == "" {
			st.Records = ix.Ecosystems[e]
		}
		if fi, err := os.Stat(src); err == nil {
			st.Written = fi.ModTime()
		}
		out = append(out, st)
	}
	return out, nil
}
