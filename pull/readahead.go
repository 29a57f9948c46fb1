package pull

import (
	"io"
	"sync"
)

// readAhead reads r in a goroutine of its own, up to blocks blocks of
// size bytes ahead of the reader. Decompressing a layer and checking its
// digests then runs beside the extraction that reads it, on another core,
// instead of taking turns with it. Errors, the digest mismatch at the end
// among them, reach the reader after the data before them, as they would
// without it.
func readAhead(r io.ReadCloser, size, blocks int) io.ReadCloser {
	a := &aheadReader{
		r:    r,
		full: make(chan block, blocks),
		free: make(chan []byte, blocks),
		done: make(chan struct{}),
	}
	for range blocks {
		a.free <- make([]byte, size)
	}
	a.wg.Add(1)
	go a.fill()
	return a
}

type block struct {
	b   []byte
	n   int
	err error
}

type aheadReader struct {
	r    io.ReadCloser
	full chan block
	free chan []byte
	done chan struct{}
	wg   sync.WaitGroup

	cur  block // the block being read
	off  int
	err  error     // the error that ended the stream
	once sync.Once // Close
}

// fill runs in its own goroutine: it fills free blocks and hands them over
// until the stream ends or the reader closes.
func (a *aheadReader) fill() {
	defer a.wg.Done()
	defer close(a.full)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.done:
			return
		}
		n, err := fillBlock(a.r, buf)
		select {
		case a.full <- block{b: buf, n: n, err: err}:
		case <-a.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// fillBlock reads into buf until it is full or the stream ends, with the
// stream's own error: io.ReadFull would turn a truncated gzip stream's
// io.ErrUnexpectedEOF into an ending like any other.
func fillBlock(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for a.off == a.cur.n {
		if a.err != nil {
			return 0, a.err
		}
		if a.cur.b != nil {
			a.free <- a.cur.b
			a.cur.b = nil
		}
		next, ok := <-a.full
		if !ok {
			a.err = io.ErrClosedPipe
			return 0, a.err
		}
		a.cur, a.off = next, 0
		a.err = next.err
	}
	n := copy(p, a.cur.b[a.off:a.cur.n])
	a.off += n
	return n, nil
}

// Close stops the goroutine, waits for it, and closes the stream under it.
func (a *aheadReader) Close() error {
	var err error
	a.once.Do(func() {
		close(a.done)
		a.wg.Wait()
		err = a.r.Close()
	})
	return err
}
