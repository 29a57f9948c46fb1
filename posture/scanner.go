package posture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Scanner checks one image. Hand Image() to the reader that reads every
// layer anyway (the SBOM's): each layer is checked as it streams past.
// Report then reads by itself only what that reader did not read to its
// end.
type Scanner struct {
	img v1.Image
	ref string

	mu     sync.Mutex
	layers map[int]*teeLayer
}

// NewScanner checks img; ref is the reference it was pulled by, for the
// unpinned-tag check ("" when it was not pulled by one).
func NewScanner(img v1.Image, ref string) *Scanner {
	return &Scanner{img: img, ref: ref, layers: map[int]*teeLayer{}}
}

// Image is the image whose layers, as they are read, are checked.
func (s *Scanner) Image() v1.Image { return teeImage{Image: s.img, s: s} }

// Report waits for the layers read through Image, reads the rest, and
// checks the config.
func (s *Scanner) Report(ctx context.Context) (*Report, error) {
	layers, err := s.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing the layers: %w", err)
	}
	cfg, err := s.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	results := make([]*layerResult, len(layers))
	alone := 0
	for i, l := range layers {
		s.mu.Lock()
		t := s.layers[i]
		s.mu.Unlock()
		if t != nil {
			select {
			case <-t.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if t.complete {
				results[i] = t.res
				continue
			}
		}
		// Not read (or not to its end) through the tee: read it here.
		if results[i], err = readOwn(ctx, l, i); err != nil {
			return nil, err
		}
		alone++
	}
	rep := finish(results, cfg, s.ref)
	rep.ReadAlone = alone
	return rep, nil
}

func readOwn(ctx context.Context, l v1.Layer, i int) (*layerResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	diffID, _ := l.DiffID()
	rc, err := l.Uncompressed()
	if err != nil {
		return &layerResult{index: i, diffID: diffID.String(), err: fmt.Errorf("layer %d: %w", i, err)}, nil
	}
	defer rc.Close()
	return readLayer(rc, i, diffID.String()), nil
}

// teeImage is the image with layers that are checked as they are read.
type teeImage struct {
	v1.Image
	s *Scanner
}

func (t teeImage) Layers() ([]v1.Layer, error) {
	ls, err := t.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &teeLayer{Layer: l, index: i, s: t.s, done: make(chan struct{})}
	}
	return out, nil
}

// teeLayer checks its uncompressed stream the first time it is read.
type teeLayer struct {
	v1.Layer
	index int
	s     *Scanner

	once     sync.Once
	done     chan struct{}
	res      *layerResult
	complete bool
}

func (t *teeLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := t.Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	var tee io.ReadCloser = rc
	t.once.Do(func() {
		t.s.mu.Lock()
		if t.s.layers[t.index] != nil {
			// Layers() was called again: the first one checks.
			t.s.mu.Unlock()
			return
		}
		t.s.layers[t.index] = t
		t.s.mu.Unlock()
		pipe := newBufPipe()
		diffID, _ := t.Layer.DiffID()
		go func() {
			t.res = readLayer(pipe, t.index, diffID.String())
			close(t.done)
		}()
		tee = &teeReader{rc: rc, pw: pipe, t: t}
	})
	return tee, nil
}

// errNotRead marks a layer its reader closed before the end.
var errNotRead = errors.New("the layer was not read to its end")

type teeReader struct {
	rc     io.ReadCloser
	pw     *bufPipe
	t      *teeLayer
	closed bool
}

func (r *teeReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		if _, werr := r.pw.Write(p[:n]); werr != nil {
			// The check stopped reading; the reader goes on.
			r.finish(werr)
		}
	}
	if errors.Is(err, io.EOF) {
		r.t.complete = true
		r.finish(nil)
	} else if err != nil {
		r.finish(err)
	}
	return n, err
}

func (r *teeReader) Close() error {
	r.finish(errNotRead)
	return r.rc.Close()
}

func (r *teeReader) finish(err error) {
	if r.closed {
		return
	}
	r.closed = true
	r.pw.closeWith(err)
}

// bufPipe hands the layer's bytes to the checks through a queue of
// copies, so that the reader it tees from (decompressing the layer for the
// SBOM) does not wait for the checks chunk by chunk, as it would on an
// io.Pipe; it waits only when the checks fall pipeDepth chunks behind.
// The checks always read to the end, so a write never blocks for good.
type bufPipe struct {
	ch  chan []byte
	err error // set before ch is closed
	cur []byte
}

// pipeDepth is how many chunks (io.Copy's are 32 KiB) may wait.
const pipeDepth = 64

func newBufPipe() *bufPipe { return &bufPipe{ch: make(chan []byte, pipeDepth)} }

func (p *bufPipe) Write(b []byte) (int, error) {
	p.ch <- append([]byte(nil), b...)
	return len(b), nil
}

// closeWith ends the stream: at EOF when err is nil.
func (p *bufPipe) closeWith(err error) {
	p.err = err
	close(p.ch)
}

func (p *bufPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		c, ok := <-p.ch
		if !ok {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.cur = c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}
