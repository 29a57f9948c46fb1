package posture

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/customs-dev/customs/internal/tarx"
)

// Limits of what one layer's check keeps and reads.
const (
	// maxEntries bounds the entries kept per layer (a hostile layer of
	// millions of empty files must not grow memory without bound).
	maxEntries = 1 << 20
	// maxSecretFile is the largest file searched for secrets; larger text
	// files are logs and data, not configuration.
	maxSecretFile = 4 << 20
	// maxMinerScan is how much of a large file is searched for a miner's
	// strings (miners are a few MB).
	maxMinerScan = 64 << 20
	// sniffLen is how much of a file decides whether it is text.
	sniffLen = 8 << 10
)

// entry is a tar entry of a layer, as the checks need it.
type entry struct {
	path string // absolute, cleaned
	typ  byte
	mode int64
	uid  int
	link string
}

// layerResult is what one layer holds.
type layerResult struct {
	index   int
	diffID  string
	entries []entry
	// findings found in the layer's content: secrets and miner strings.
	findings []Finding
	// truncated is set when the layer had more entries than maxEntries.
	truncated bool
	// err is set when the layer could not be read to its end; the checks
	// then saw only a part of it.
	err error
}

// readLayer checks a layer's uncompressed tar stream. It reads r to its end
// even when the tar is malformed, so that a writer teeing into it never
// blocks.
func readLayer(r io.Reader, index int, diffID string) *layerResult {
	res := &layerResult{index: index, diffID: diffID}
	defer io.Copy(io.Discard, r) //nolint:errcheck // draining only
	tr := tar.NewReader(r)
	buf := make([]byte, 0, 64<<10)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.err = fmt.Errorf("layer %d: %w", index, err)
			return res
		}
		p := cleanPath(h.Name)
		if p == "" {
			continue
		}
		if len(res.entries) < maxEntries {
			res.entries = append(res.entries, entry{path: p, typ: h.Typeflag, mode: h.Mode, uid: h.Uid, link: h.Linkname})
		} else {
			res.truncated = true
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 || tarx.Sparse(h) {
			// A sparse file's holes read as zeros the stream never held:
			// a hostile layer could claim terabytes of them.
			continue
		}
		if buf, err = res.readContent(tr, h, p, buf); err != nil {
			res.err = fmt.Errorf("layer %d: reading %s: %w", index, p, err)
			return res
		}
	}
}

// readContent searches a file's content: a text file up to maxSecretFile
// whole for secrets, and every file, in chunks, for a miner's strings.
func (res *layerResult) readContent(r io.Reader, h *tar.Header, p string, buf []byte) ([]byte, error) {
	if h.Size <= maxSecretFile {
		buf = buf[:0]
		if int64(cap(buf)) < h.Size {
			buf = make([]byte, 0, h.Size)
		}
		buf = buf[:h.Size]
		n, err := io.ReadFull(r, buf)
		buf = buf[:n]
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return buf, err
		}
		text := isText(buf)
		if text || executable(h) {
			seen := minerSeen{}
			seen.search(buf)
			if detail, ok := seen.verdict(text); ok {
				res.minerFinding(p, detail)
			}
		}
		if text && !testOrDoc(p) {
			for _, f := range findSecrets(buf) {
				res.findings = append(res.findings, secretFinding(f, p, res.index))
			}
		}
		return buf, nil
	}
	// A large file: if it is executable, only the miner's strings, chunk by
	// chunk, keeping an overlap so that a string across two chunks is not
	// missed, in its first maxMinerScan bytes. Large data files and
	// libraries are left unread: the tar reader skips them.
	if !executable(h) {
		return buf, nil
	}
	r = io.LimitReader(r, maxMinerScan)
	const overlap = 32
	if cap(buf) < 64<<10 {
		buf = make([]byte, 0, 64<<10)
	}
	chunk := buf[:cap(buf)]
	keep := 0
	seen := minerSeen{}
	text := true
	for first := true; ; first = false {
		n, err := io.ReadFull(r, chunk[keep:])
		if n > 0 {
			if first {
				text = isText(chunk[:n])
			}
			seen.search(chunk[:keep+n])
		}
		if err != nil {
			if detail, ok := seen.verdict(text); ok {
				res.minerFinding(p, detail)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return buf, nil
			}
			return buf, err
		}
		keep = copy(chunk, chunk[len(chunk)-overlap:])
	}
}

// minerSeen collects the miner strings found in a file's content.
type minerSeen map[string]bool

func (m minerSeen) search(data []byte) {
	// The pool URLs share their scheme's start: look for the rest only
	// where it is.
	pool := bytes.Contains(data, []byte(stratum))
	for _, s := range minerStrings {
		if m[s] || (!pool && strings.HasPrefix(s, stratum)) {
			continue
		}
		if bytes.Contains(data, []byte(s)) {
			m[s] = true
		}
	}
}

// executable says whether a tar entry has an execute bit.
func executable(h *tar.Header) bool { return h.Mode&0o111 != 0 }

// verdict says whether what was seen makes the file a miner's: a pool URL
// or xmrig's configuration key in text, two different strings in any file.
func (m minerSeen) verdict(text bool) (string, bool) {
	if len(m) == 0 {
		return "", false
	}
	var seen []string
	for _, s := range minerStrings {
		if m[s] {
			seen = append(seen, fmt.Sprintf("%q", s))
		}
	}
	if len(seen) >= 2 {
		return "contains " + strings.Join(seen, ", ") + ": a miner's strings", true
	}
	if text {
		return "contains " + seen[0] + ", a mining pool's protocol or a miner's configuration", true
	}
	return "", false
}

func (res *layerResult) minerFinding(p, detail string) {
	res.findings = append(res.findings, Finding{Rule: Miner, Layer: res.index, Path: p, Detail: detail})
}

func secretFinding(f found, p string, layer int) Finding {
	detail := fmt.Sprintf("%s (fingerprint %s)", f.rule, f.fingerprint)
	return Finding{Rule: Secret, Layer: layer, Path: p, Line: f.line, Detail: detail, SecretType: f.rule}
}

// testOrDoc says whether a path is test data, an example or documentation,
// where keys and tokens are fixtures, not secrets (Trivy's and gitleaks'
// default allow rules skip the same).
func testOrDoc(p string) bool {
	for _, dir := range []string{"/test/", "/tests/", "/testdata/", "/testing/", "/example/", "/examples/", "/doc/", "/docs/", "/usr/share/doc/", "/usr/share/man/"} {
		if strings.Contains(p, dir) {
			return true
		}
	}
	return strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".rst")
}

// isText says whether data looks like text: no NUL byte in its start.
func isText(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), sniffLen)], 0) < 0
}

// cleanPath makes a tar name an absolute, clean path; "" for the root.
func cleanPath(name string) string {
	p := path.Clean("/" + strings.TrimPrefix(name, "./"))
	if p == "/" {
		return ""
	}
	return p
}
