package pull

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

type closeCount struct {
	io.Reader
	closed int
}

func (c *closeCount) Close() error { c.closed++; return nil }

// TestReadAhead: what is read ahead is the stream, byte for byte, whatever
// the sizes of the blocks and of the reads; an error comes after the data
// before it; closing early stops the goroutine and closes the stream once.
func TestReadAhead(t *testing.T) {
	data := make([]byte, 1<<20+12345)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	for _, size := range []int{1, 7, 4096, 1 << 20, 2 << 20} {
		for _, oneByte := range []bool{false, true} {
			src := &closeCount{Reader: iotest.HalfReader(bytes.NewReader(data))}
			a := readAhead(src, size, 3)
			var r io.Reader = a
			if oneByte {
				r = iotest.OneByteReader(a)
			}
			got, err := io.ReadAll(r)
			a.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("block size %d, one byte at a time %v: read %d bytes (want %d), %v", size, oneByte, len(got), len(data), err)
			}
			if src.closed != 1 {
				t.Errorf("block size %d: the stream was closed %d times", size, src.closed)
			}
		}
	}
	mismatch := errors.New("digest mismatch")
	a := readAhead(io.NopCloser(io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(mismatch))), 4096, 2)
	got, err := io.ReadAll(a)
	if !errors.Is(err, mismatch) || !bytes.Equal(got, data[:5000]) {
		t.Errorf("read %d bytes and %v, want 5000 bytes then the mismatch", len(got), err)
	}
	a.Close()

	// A truncated stream's own error is kept, not made an ending.
	a = readAhead(io.NopCloser(io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(io.ErrUnexpectedEOF))), 4096, 2)
	if got, err := io.ReadAll(a); err != io.ErrUnexpectedEOF || len(got) != 5000 {
		t.Errorf("read %d bytes and %v, want 5000 bytes then io.ErrUnexpectedEOF", len(got), err)
	}
	a.Close()

	// Closed after one read: the goroutine, blocked handing over a block,
	// stops.
	src := &closeCount{Reader: bytes.NewReader(data)}
	a = readAhead(src, 1024, 2)
	if _, err := a.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
	if src.closed != 1 {
		t.Errorf("the stream was closed %d times, want once", src.closed)
	}
}
