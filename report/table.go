package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/customs-dev/customs/scan"
)

// writeTable prints findings grouped by package, with installed and fixed
// versions, IDs, severity and summary, then the verdict.
func writeTable(w io.Writer, r *scan.Result) error {
	fmt.Fprintf(w, "%s", r.Target.Input)
	if r.Target.Digest != "" {
		fmt.Fprintf(w, " (%s)", r.Target.Digest)
	}
	fmt.Fprintln(w)
	if v := r.Verification; v != nil {
		fmt.Fprintf(w, "signature: %s\n", verification(v))
	}
	fmt.Fprintf(w, "%d packages, %d with vulnerability data; database %s revision %s\n", r.Packages.Total, r.Packages.Matched, r.Database.Dir, r.Database.Revision)
	if len(r.Unscanned) > 0 {
		fmt.Fprintf(w, "not scanned, no vulnerability data: %s\n", unscanned(r))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tINSTALLED\tFIXED IN\tSEVERITY\tID\tSTATUS\tSUMMARY")
	last := ""
	for _, f := range r.Findings {
		name := f.Package.Name
		if name == last {
			name = ""
		}
		last = f.Package.Name
		status := string(f.Status)
		if f.Fails {
			status = "FAILS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, f.Package.Version, fixed(f), f.Severity, ids(f), status, trim(f.Summary, 70))
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(tw, "(no vulnerabilities found)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Capabilities != nil {
		fmt.Fprintf(w, "\n%s\n", strings.Join(capabilityLines(r.Capabilities), "\n"))
	}
	if err := writePostureTable(w, r); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict(r))
	return err
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// verification says in a line what the trust policy made of the image.
func verification(v *scan.Verification) string {
	switch {
	case !v.Passed:
		return "FAILED: " + v.Error
	case v.Unsigned && v.Entry == "":
		return "not required (the trust policy allows unmatched images)"
	case v.Unsigned:
		return "not required (trust policy entry " + v.Entry + " allows unsigned images)"
	}
	s := fmt.Sprintf("verified %s, signed by %s", v.Digest, v.Signature.Signer)
	if v.Signature.SignedAt.IsZero() {
		// Only a log entry or a signed timestamp dates a signature.
		s += " at an unknown time"
	} else {
		s += " at " + v.Signature.SignedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	if v.Signature.LogIndex >= 0 {
		s += fmt.Sprintf(", log index %d", v.Signature.LogIndex)
	}
	if n := len(v.Signature.Platforms); n > 0 {
		s += fmt.Sprintf("; each of its %d platform manifests signed", n)
	}
	for _, a := range v.Signature.Attestations {
		s += "; attested " + a.PredicateType
	}
	return s
}
