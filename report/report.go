package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/customs-dev/customs/result"
)

// Formats lists the report formats, the default first.
var Formats = []string{"table", "json", "sarif", "cyclonedx-json", "openvex", "markdown", "junit", "gitlab"}

// ErrUnknownFormat is returned for a format not in Formats.
var ErrUnknownFormat = errors.New("unknown report format")

// Write renders r in the named format.
func Write(w io.Writer, r *result.Result, format string) error {
	switch format {
	case "table":
		return writeTable(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		return writeSARIF(w, r)
	case "cyclonedx-json":
		return writeCycloneDX(w, r)
	case "openvex":
		return writeOpenVEX(w, r)
	case "markdown":
		return writeMarkdown(w, r)
	case "junit":
		return writeJUnit(w, r)
	case "gitlab":
		return writeGitLab(w, r)
	}
	return fmt.Errorf("%w %q: choose one of %s", ErrUnknownFormat, format, strings.Join(Formats, ", "))
}

func ids(f result.Finding) string {
	return strings.Join(f.IDs, ", ")
}

func fixed(f result.Finding) string {
	if len(f.Fixed) == 0 {
		return "-"
	}
	return strings.Join(f.Fixed, ", ")
}

func verdict(r *result.Result) string {
	if r.Gate.Passed {
		return "PASSED"
	}
	return "FAILED: " + strings.Join(r.Gate.Reasons, "; ")
}
