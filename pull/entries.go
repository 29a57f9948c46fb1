package pull

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
)

// entryLimit holds a layer's tar stream, as it is read, to the limits on
// files: how many the image's layers hold together, and how large one may
// be. It reads the tar headers in passing (no copy, no goroutine): each
// header says how much data follows before the next one.
type entryLimit struct {
	r     io.Reader
	layer string
	// files is shared by the layers of one image.
	files              *atomic.Int64
	maxFiles, maxBytes int64

	hdr  [512]byte
	hn   int   // bytes of hdr filled
	skip int64 // data bytes, padded, before the next header
	// pax collects a PAX extended header's records (they may give the
	// next entry's size); paxSize is that size, -1 for none.
	pax     []byte
	inPAX   bool
	paxSize int64
	// done stops the parsing: the end of the archive, or a header this
	// reader does not follow (GNU sparse), after which the expansion
	// limit alone bounds the layer.
	done bool
	err  error
}

func newEntryLimit(r io.Reader, layer string, files *atomic.Int64, l Limits) *entryLimit {
	return &entryLimit{r: r, layer: layer, files: files, maxFiles: l.MaxFiles, maxBytes: l.MaxFileSize, paxSize: -1}
}

func (e *entryLimit) Read(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(b)
	if !e.done && n > 0 {
		if lerr := e.scan(b[:n]); lerr != nil {
			e.err = fmt.Errorf("layer %s: %w", e.layer, lerr)
			return 0, e.err
		}
	}
	return n, err
}

// maxPAX bounds a PAX header's records (archive/tar's own bound).
const maxPAX = 1 << 20

func (e *entryLimit) scan(p []byte) error {
	for len(p) > 0 && !e.done {
		if e.skip > 0 {
			k := int64(len(p))
			if k > e.skip {
				k = e.skip
			}
			if e.inPAX && len(e.pax) < maxPAX {
				e.pax = append(e.pax, p[:min(int(k), maxPAX-len(e.pax))]...)
			}
			e.skip -= k
			p = p[k:]
			if e.skip == 0 && e.inPAX {
				e.paxSize = paxSize(e.pax)
				e.inPAX, e.pax = false, e.pax[:0]
			}
			continue
		}
		k := copy(e.hdr[e.hn:], p)
		e.hn += k
		p = p[k:]
		if e.hn < len(e.hdr) {
			return nil
		}
		e.hn = 0
		if err := e.header(); err != nil {
			return err
		}
	}
	return nil
}

// header reads one 512-byte header.
func (e *entryLimit) header() error {
	h := e.hdr[:]
	if bytes.Equal(h, make([]byte, 512)) {
		e.done = true // the end of the archive
		return nil
	}
	size, ok := tarNumber(h[124:136])
	if !ok || size < 0 {
		e.done = true // not a header archive/tar accepts either
		return nil
	}
	typ := h[156]
	switch typ {
	case 'x', 'g':
		e.inPAX = typ == 'x'
		e.skip = padded(size)
		return nil
	case 'L', 'K': // GNU long names
		e.skip = padded(size)
		return nil
	case 'S': // GNU sparse: extension blocks follow that this does not read
		e.done = true
	}
	if e.paxSize >= 0 {
		size, e.paxSize = e.paxSize, -1
	}
	if n := e.files.Add(1); n > e.maxFiles {
		return &LimitError{What: "more files than", Value: n, Max: e.maxFiles, Setting: "max-files"}
	}
	if (typ == '0' || typ == 0 || typ == '7' || typ == 'S') && size > e.maxBytes {
		return &LimitError{What: "a file of bytes", Value: size, Max: e.maxBytes, Setting: "max-file-size"}
	}
	switch typ {
	case '1', '2', '3', '4', '5', '6': // links, devices, directories, FIFOs: no data
		size = 0
	}
	e.skip = padded(size)
	return nil
}

func padded(n int64) int64 { return (n + 511) &^ 511 }

// tarNumber reads a header's numeric field: octal, or base-256 when the
// first byte's high bit is set.
func tarNumber(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		if b[0]&0x40 != 0 {
			return 0, false // negative
		}
		var n int64
		for i, c := range b {
			if i == 0 {
				c &= 0x7f
			}
			if n > (1<<62)>>8 {
				return 0, false
			}
			n = n<<8 | int64(c)
		}
		return n, true
	}
	s := string(bytes.Trim(b, " \x00"))
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 8, 64)
	return n, err == nil
}

// paxSize is the size record of PAX records ("30 size=12345678901\n"), or
// -1.
func paxSize(recs []byte) int64 {
	for len(recs) > 0 {
		sp := bytes.IndexByte(recs, ' ')
		if sp <= 0 {
			return -1
		}
		n, err := strconv.Atoi(string(recs[:sp]))
		if err != nil || n <= sp || n > len(recs) {
			return -1
		}
		rec := recs[sp+1 : n]
		recs = recs[n:]
		if v, ok := bytes.CutPrefix(bytes.TrimSuffix(rec, []byte("\n")), []byte("size=")); ok {
			if size, err := strconv.ParseInt(string(v), 10, 64); err == nil && size >= 0 {
				return size
			}
			return -1
		}
	}
	return -1
}
