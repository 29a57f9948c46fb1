package cas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrCorrupt reports a cache entry whose content does not match its digest.
// The entry has been removed by the time the error is returned.
var ErrCorrupt = errors.New("corrupt cache entry")

// Store is a cache directory. The zero value is not usable; use Open.
type Store struct {
	dir string
}

// Open returns the store rooted at dir, creating it if needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("opening cache: no directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening cache %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's root directory.
func (s *Store) Dir() string { return s.dir }

// BlobPath is where the blob with the given sha256 hex digest lives.
func (s *Store) BlobPath(hexDigest string) string {
	if !ValidHex(hexDigest) {
		// A digest named by an image or archive is untrusted: one that is
		// not 64 hex digits ("../../dev/null") must not name a path
		// outside the store, to be opened or removed. This name is never
		// written, so nothing is found there.
		return filepath.Join(s.dir, "blobs", "sha256", "invalid-digest")
	}
	return filepath.Join(s.dir, "blobs", "sha256", hexDigest)
}

// ValidHex says whether s is a SHA-256 digest in lower-case hex.
func ValidHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// HasBlob reports whether a blob is present, without verifying it.
func (s *Store) HasBlob(hexDigest string) bool {
	_, err := os.Stat(s.BlobPath(hexDigest))
	return err == nil
}

// VerifyBlob hashes a stored blob and removes it if it does not match.
// It returns fs.ErrNotExist when the blob is absent.
func (s *Store) VerifyBlob(hexDigest string) error {
	if !ValidHex(hexDigest) {
		return fmt.Errorf("blob sha256:%.80q: not a SHA-256 digest: %w", hexDigest, fs.ErrNotExist)
	}
	p := s.BlobPath(hexDigest)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading cached blob %s: %w", hexDigest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexDigest {
		os.Remove(p)
		return fmt.Errorf("blob sha256:%s hashes to sha256:%s: %w", hexDigest, got, ErrCorrupt)
	}
	return nil
}

// PutBlob copies r into the store, hashing it on the way. When want is not
// empty the content must hash to it, or nothing is stored. It returns the
// hex digest and the size.
func (s *Store) PutBlob(r io.Reader, want string) (string, int64, error) {
	dir := filepath.Join(s.dir, "blobs", "sha256")
	var digest string
	var n int64
	err := writeAtomic(dir, func(w io.Writer) (string, error) {
		h := sha256.New()
		var err error
		n, err = io.Copy(io.MultiWriter(w, h), r)
		if err != nil {
			return "", err
		}
		digest = hex.EncodeToString(h.Sum(nil))
		if want != "" && digest != want {
			return "", &MismatchError{Want: want, Got: digest}
		}
		return digest, nil
	})
	return digest, n, err
}

// MismatchError reports content that does not hash to the digest it was
// fetched or named by.
type MismatchError struct{ Want, Got string }

func (e *MismatchError) Error() string {
	return fmt.Sprintf("content hashes to sha256:%s, want sha256:%s", e.Got, e.Want)
}

// Get reads a derived entry, such as an SBOM keyed by an image digest. It
// returns fs.ErrNotExist when absent and ErrCorrupt (after removing the
// entry) when the stored checksum does not match.
func (s *Store) Get(kind, key string) ([]byte, error) {
	p := s.entryPath(kind, key)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	sum, body, ok := bytes.Cut(b, []byte("\n"))
	got := sha256.Sum256(body)
	if !ok || string(sum) != hex.EncodeToString(got[:]) {
		os.Remove(p)
		return nil, fmt.Errorf("cache entry %s/%s: %w", kind, key, ErrCorrupt)
	}
	return body, nil
}

// Put stores a derived entry atomically with its checksum.
func (s *Store) Put(kind, key string, body []byte) error {
	p := s.entryPath(kind, key)
	sum := sha256.Sum256(body)
	return writeAtomic(filepath.Dir(p), func(w io.Writer) (string, error) {
		if _, err := fmt.Fprintf(w, "%x\n", sum); err != nil {
			return "", err
		}
		_, err := w.Write(body)
		return filepath.Base(p), err
	})
}

// Has reports whether a derived entry is stored (not whether it is
// intact: Get checks that). A nil Store has none.
func (s *Store) Has(kind, key string) bool {
	if s == nil {
		return false
	}
	_, err := os.Stat(s.entryPath(kind, key))
	return err == nil
}

// Delete removes a derived entry, if present.
func (s *Store) Delete(kind, key string) {
	os.Remove(s.entryPath(kind, key))
}

// Path returns a path under the store for a kind of data that manages its
// own integrity, creating the parent directory.
func (s *Store) Path(elem ...string) (string, error) {
	p := filepath.Join(append([]string{s.dir}, elem...)...)
	return p, os.MkdirAll(filepath.Dir(p), 0o755)
}

func (s *Store) entryPath(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, kind, hex.EncodeToString(sum[:]))
}

// WriteFile writes data to path through a temporary file in the same
// directory and a rename, so readers never see a partial file. A path that
// is not a regular file (/dev/null, /dev/stdout, a named pipe) is written
// directly: a rename would replace the device with a file.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeAtomic creates a temporary file in dir, lets fill write it and name
// it, then renames it into place.
func writeAtomic(dir string, fill func(io.Writer) (string, error)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	name, err := fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if strings.ContainsAny(name, `/\`) || name == "" {
		return fmt.Errorf("invalid cache entry name %q", name)
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}
