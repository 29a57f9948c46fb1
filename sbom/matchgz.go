package sbom

import (
	"archive/tar"
	"bytes"
	"io"
	"path"
	"strings"

	syftfile "github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/klauspost/compress/gzip"
)

// searchSource hands syft a resolver that leaves out of its search for
// archives the gzip files that syft would open only to find that they hold
// no archive (archiveSearch). syft records nothing of such a file (no
// package, no unknown), so the SBOM is the same with or without them.
type searchSource struct{ source.Source }

func (s searchSource) FileResolver(scope source.Scope) (syftfile.Resolver, error) {
	r, err := s.Source.FileResolver(scope)
	if err != nil {
		return nil, err
	}
	return archiveSearch{r}, nil
}

// ExcludedPaths passes on the source's exclusions, which syft applies
// inside archives too.
func (s searchSource) ExcludedPaths() []string {
	if e, ok := s.Source.(source.PathExcluder); ok {
		return e.ExcludedPaths()
	}
	return nil
}

type archiveSearch struct{ syftfile.Resolver }

// FilesByMIMEType leaves out of syft's search for archives the gzip files
// that syft would open only to find that they hold no archive: the
// gzipped manual pages and changelogs of every Debian image. syft (through
// mholt/archives) decides that by decompressing each one once for every
// archive format it knows, which was a quarter of the CPU of a cold scan
// of a Debian minbase image, and a sixth of its full SBOM's. A file is
// left out only when syft's decision is certain to be "not an archive"
// (internal/archive.identifyFormat):
// its name does not say tar, zip, 7z or rar; its decompressed stream does
// not start like any of them (the same header checks mholt makes, a tar
// header read by archive/tar over the whole stream); and its own bytes
// hold no zip end-of-central-directory record (an appended zip). A stream
// that ends early counts as read to its end, as it does for mholt; a file
// that cannot be read, is not gzip, or is larger than maxBareGzip is kept.
func (r archiveSearch) FilesByMIMEType(types ...string) ([]syftfile.Location, error) {
	locs, err := r.Resolver.FilesByMIMEType(types...)
	if err != nil {
		return locs, err
	}
	var zr gzip.Reader
	keep := locs[:0:0]
	for _, l := range locs {
		if !r.bareGzip(l, &zr) {
			keep = append(keep, l)
		}
	}
	return keep, nil
}

// maxBareGzip bounds the gzip files read to decide: larger ones are kept.
const maxBareGzip = 1 << 20

func (r archiveSearch) bareGzip(l syftfile.Location, zr *gzip.Reader) bool {
	for _, p := range []string{l.RealPath, l.AccessPath} {
		name := strings.ToLower(path.Base(p))
		if p != "" && (!strings.HasSuffix(name, ".gz") || archiveName(strings.TrimSuffix(name, ".gz"))) {
			return false
		}
	}
	rc, err := r.Resolver.FileContentsByLocation(l)
	if err != nil {
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxBareGzip+1))
	rc.Close()
	return err == nil && bareGzipBytes(raw, zr)
}

// bareGzipBytes decides for the bytes of a gzip file of a name that says
// nothing.
func bareGzipBytes(raw []byte, zr *gzip.Reader) bool {
	if len(raw) > maxBareGzip || !bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) ||
		bytes.Contains(raw, []byte("PK\x05\x06")) {
		return false
	}
	if zr.Reset(bytes.NewReader(raw)) != nil {
		return false
	}
	head := make([]byte, 8)
	n, err := io.ReadFull(zr, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false
	}
	head = head[:n]
	for _, magic := range [][]byte{[]byte("PK"), []byte("7z\xbc\xaf\x27\x1c"), []byte("Rar!\x1a\x07")} {
		if bytes.HasPrefix(head, magic) {
			return false
		}
	}
	_, err = tar.NewReader(io.MultiReader(bytes.NewReader(head), zr)).Next()
	return err != nil
}

// archiveName reports whether mholt/archives would take a decompressed
// stream of this name for an archive by its name alone.
func archiveName(name string) bool {
	for _, ext := range []string{".tar", ".zip", ".7z", ".rar"} {
		if strings.Contains(name, ext) {
			return true
		}
	}
	return false
}
