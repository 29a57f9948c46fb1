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

// progress draws the steps of a run (downloads with a bar, cataloging,
// matching) on a terminal, and nothing elsewhere: a log or a CI job gets
// no carriage returns.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	what string
	last time.Time
}

// newProgress renders on w when w is a terminal and the run is not quiet.
func (a *app) newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: !a.quiet && a.isTerminal(w)}
}

// isTerminal is how the CLI asks whether w is a terminal; tests set
// a.terminal instead of needing a real one.
func (a *app) isTerminal(w io.Writer) bool {
	if a.terminal != nil {
		return a.terminal(w)
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) update(e pull.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Byte counts come fast and are thinned out; a new step is always
	// shown, or a step that follows a download closely would be lost.
	if !e.Finished && e.What == p.what && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.what, p.last = e.What, time.Now()
	line := e.What
	switch {
	case e.Total > 0:
		const width = 30
		n := int(float64(width) * float64(e.Done) / float64(e.Total))
		n = min(max(n, 0), width)
		line = fmt.Sprintf("%s [%s%s] %s / %s", e.What, strings.Repeat("=", n), strings.Repeat(" ", width-n), bytesize(e.Done), bytesize(e.Total))
	case e.Done > 0:
		line = fmt.Sprintf("%s %s", e.What, bytesize(e.Done))
	case !e.Finished:
		line = e.What + "…"
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	if e.Finished {
		fmt.Fprint(p.w, "\r\033[K")
		p.what = ""
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
