package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/customs-dev/customs/scan"
)

// writeMarkdown writes a summary for a pull-request comment.
func writeMarkdown(w io.Writer, r *scan.Result) error {
	mark := "✅"
	if !r.Gate.Passed {
		mark = "❌"
	}
	fmt.Fprintf(w, "### %s customs scan of `%s`\n\n", mark, r.Target.Input)
	if r.Target.Digest != "" {
		fmt.Fprintf(w, "Digest `%s`. ", r.Target.Digest)
	}
	if v := r.Verification; v != nil {
		fmt.Fprintf(w, "Signature: %s. ", md(verification(v)))
	}
	fmt.Fprintf(w, "%d packages; vulnerability data revision `%s`.\n\n**%s**\n\n", r.Packages.Total, r.Database.Revision, verdict(r))
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "No vulnerabilities found.")
		return nil
	}
	fmt.Fprintln(w, "| Package | Installed | Fixed in | Severity | IDs | Status |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, f := range r.Findings {
		status := string(f.Status)
		if f.Fails {
			status = "**fails**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", md(f.Package.Name), md(f.Package.Version), md(fixed(f)), f.Severity, md(ids(f)), status)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\n> ⚠️ %s", md(warn))
	}
	_, err := fmt.Fprintln(w)
	return err
}

// md escapes what would break a table cell.
func md(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}
