package main

import (
	"fmt"
	"io"
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
			return nil, usageError{fmt.Errorf("unknown output format %q in -o %s: choose one of %s", f, s, strings.Join(known, ", "))}
		}
		if file == "" {
			stdout++
		}
		outs = append(outs, output{format: f, file: file})
	}
	if stdout > 1 {
		return nil, usageError{fmt.Errorf("more than one -o writes to stdout: give all but one a file, as -o FORMAT=FILE")}
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
