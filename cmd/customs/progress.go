package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/customs-dev/customs/pull"
)

// progress draws download progress on a terminal and nothing elsewhere.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	last time.Time
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(e pull.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !e.Finished && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	line := e.What
	if e.Total > 0 {
		const width = 30
		n := int(float64(width) * float64(e.Done) / float64(e.Total))
		n = min(max(n, 0), width)
		line = fmt.Sprintf("%s [%s%s] %s / %s", e.What, strings.Repeat("=", n), strings.Repeat(" ", width-n), bytesize(e.Done), bytesize(e.Total))
	} else if e.Done > 0 {
		line = fmt.Sprintf("%s %s", e.What, bytesize(e.Done))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	if e.Finished {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
