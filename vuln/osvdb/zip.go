package osvdb

import (
	"archive/zip"
	"bufio"
	"hash/crc32"
	"io"
	"iter"
	"runtime"
	"sync"

	kflate "github.com/klauspost/compress/flate"
)

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

// memberAt is where a record's compressed bytes are in its zip, and what
// the zip's directory says of them.
type memberAt struct {
	Offset, Compressed, Size int64
	CRC                      uint32
	Method                   uint16
}

// memberOf says where a zip's member is, from its directory entry and
// its local header.
func memberOf(zf *zip.File) (memberAt, error) {
	off, err := zf.DataOffset()
	return memberAt{Offset: off, Compressed: int64(zf.CompressedSize64), Size: int64(zf.UncompressedSize64), CRC: zf.CRC32, Method: zf.Method}, err
}

// readAt reads a record at its place in the zip into buf, grown as
// needed, and checks its size and CRC as archive/zip would. It returns
// the record and the buffer.
func readAt(r io.ReaderAt, at memberAt, max int64, buf []byte) ([]byte, []byte, error) {
	if at.Size > max || at.Size < 0 {
		return nil, buf, recordTooLarge(max)
	}
	var rc io.ReadCloser
	body := io.NewSectionReader(r, at.Offset, at.Compressed)
	switch at.Method {
	case zip.Store:
		rc = io.NopCloser(body)
	case zip.Deflate:
		rc = newInflater(body)
	default:
		return nil, buf, zip.ErrAlgorithm
	}
	defer rc.Close()
	// One byte more than the size: a member longer than said is refused.
	n := int(at.Size) + 1
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	got, err := io.ReadFull(rc, buf[:n])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, buf, err
	}
	if int64(got) != at.Size || crc32.ChecksumIEEE(buf[:got]) != at.CRC {
		return nil, buf, zip.ErrChecksum
	}
	return buf[:got], buf, nil
}
