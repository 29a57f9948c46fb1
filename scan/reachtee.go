package scan

import (
	"archive/tar"
	"bytes"
	"io"
	"path"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/vuln/reach"
)

// executables collects the Go executables of an image while the SBOM
// reads its layers, so that grading findings reads no layer again: each
// layer's stream is copied to a reader of its tar entries, which keeps
// the ELF executables and reads their functions in the background.
type executables struct {
	mu   sync.Mutex
	wg   sync.WaitGroup
	bins map[string]*reach.Binary // "sha256:DIFFID:/path"
	// read marks the layers read to their end: what is not in bins from
	// them is not a Go executable.
	read map[string]bool
	// slots bounds the executables held and read at once.
	slots chan struct{}
	// onGo, when set, is called once, at the head of the first file that
	// looks like a Go executable.
	onGo   func()
	goOnce sync.Once
}

func newExecutables() *executables {
	return &executables{bins: map[string]*reach.Binary{}, read: map[string]bool{}, slots: make(chan struct{}, 2)}
}

// wrap is the image the SBOM reads.
func (e *executables) wrap(img v1.Image) v1.Image { return execImage{Image: img, e: e} }

// lookup waits for the background reads and returns what the layer held
// at the location; known is false when its layer was not read whole.
func (e *executables) lookup(loc string) (b *reach.Binary, known bool) {
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	layer, _, _ := strings.Cut(strings.TrimPrefix(loc, "sha256:"), ":")
	return e.bins[loc], e.read["sha256:"+layer]
}

type execImage struct {
	v1.Image
	e *executables
}

func (i execImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for k, l := range ls {
		out[k] = &execLayer{Layer: l, e: i.e}
	}
	return out, nil
}

type execLayer struct {
	v1.Layer
	e    *executables
	once sync.Once
}

func (l *execLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	var out io.ReadCloser = rc
	l.once.Do(func() {
		diffID, err := l.Layer.DiffID()
		if err != nil {
			return
		}
		pr, pw := io.Pipe()
		l.e.wg.Add(1)
		go func() {
			defer l.e.wg.Done()
			l.e.scan(diffID.String(), pr)
		}()
		out = &execTee{rc: rc, pw: pw}
	})
	return out, nil
}

// execTee copies what its reader reads to the entries' reader.
type execTee struct {
	rc     io.ReadCloser
	pw     *io.PipeWriter
	closed bool
}

func (t *execTee) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 && !t.closed {
		if _, werr := t.pw.Write(p[:n]); werr != nil {
			t.closed = true
		}
	}
	if err != nil && !t.closed {
		t.closed = true
		if err == io.EOF {
			t.pw.Close()
		} else {
			t.pw.CloseWithError(err)
		}
	}
	return n, err
}

func (t *execTee) Close() error {
	if !t.closed {
		t.closed = true
		t.pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	return t.rc.Close()
}

// scan reads a layer's tar entries and keeps its Go executables.
func (e *executables) scan(layer string, r *io.PipeReader) {
	defer io.Copy(io.Discard, r) // never block the SBOM's reader
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			e.mu.Lock()
			e.read[layer] = true
			e.mu.Unlock()
			return
		}
		if err != nil {
			return
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 || h.Size < 4 || h.Size > maxExecutable {
			continue
		}
		b, err := readELFHead(tr, h.Size, func(head []byte) {
			if e.onGo != nil && looksLikeGo(head) {
				e.goOnce.Do(e.onGo)
			}
		})
		if err != nil {
			return
		}
		if b == nil {
			continue
		}
		loc := layer + ":/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		e.wg.Add(1)
		e.slots <- struct{}{}
		go func() {
			defer func() { <-e.slots; e.wg.Done() }()
			bin, err := reach.ReadBinary(bytes.NewReader(b))
			if err != nil {
				return // not a Go executable: not graded from here
			}
			e.mu.Lock()
			e.bins[loc] = bin
			e.mu.Unlock()
		}()
	}
}
