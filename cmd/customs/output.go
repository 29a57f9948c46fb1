package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/customs-dev/customs/internal/cas"
)

// output is one -o FORMAT[=FILE]; an empty file means stdout.
type output struct {
	format string
	file   string
}

func parseOutputs(specs []string, known []string, def string) ([]output, error) {
	if len(specs) == 0 {
		specs = []string{def}
	}
	var outs []output
	stdout := 0
	for _, s := range specs {
		f, file, _ := strings.Cut(s, "=")
		ok := false
		for _, k := range known {
			ok = ok || k == f
		}
		if !ok {
			return nil, usageError{err: fmt.Errorf("unknown output format %q in -o %s: choose one of %s", f, s, strings.Join(known, ", "))}
		}
		if file == "" {
			stdout++
		} else if err := outputDir(file); err != nil {
			return nil, fmt.Errorf("-o %s: %w", s, err)
		}
		outs = append(outs, output{format: f, file: file})
	}
	if stdout > 1 {
		return nil, usageError{err: fmt.Errorf("more than one -o writes to stdout: give all but one a file, as -o FORMAT=FILE")}
	}
	return outs, nil
}

// writeOutputs writes rendered outputs: files through a temporary file and
// a rename, so that a failure leaves no partial file behind.
func writeOutputs(stdout io.Writer, outs []output, rendered [][]byte) error {
	for i, o := range outs {
		if o.file == "" {
			if _, err := stdout.Write(rendered[i]); err != nil {
				return err
			}
			continue
		}
		if err := cas.WriteFile(filepath.Clean(o.file), rendered[i], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", o.file, err)
		}
	}
	return nil
}

// outputDir checks, before any work is done, that file's directory exists:
// a typo in a path must not leave a tree of new directories behind.
func outputDir(file string) error {
	dir := filepath.Dir(filepath.Clean(file))
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist: create it first, or write the file elsewhere", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// emit renders each output with render, in its format, and writes them
// where they go, as the scan's reports are.
func (a *app) emit(outs []output, render func(w io.Writer, format string) error) error {
	rendered := make([][]byte, len(outs))
	for i, o := range outs {
		var buf bytes.Buffer
		if err := render(&buf, o.format); err != nil {
			return err
		}
		rendered[i] = buf.Bytes()
	}
	return writeOutputs(a.stdout, outs, rendered)
}

// to is the app writing its output to w: the text printers write to
// a.stdout, and an -o FORMAT=FILE output is rendered into a buffer.
func (a *app) to(w io.Writer) *app {
	b := *a
	b.stdout = w
	return &b
}

// textOrJSON are the formats of the commands that print text or JSON.
var textOrJSON = []string{"text", "json"}
