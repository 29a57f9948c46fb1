package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
)

// writeMarkdown writes a summary for a pull-request comment.
func writeMarkdown(w io.Writer, r *result.Result) error {
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
	fmt.Fprintf(w, "%s; vulnerability data revision `%s`.", plural(r.Packages.Total, "package"), r.Database.Revision)
	if len(r.Unscanned) > 0 {
		fmt.Fprintf(w, " Not scanned, no vulnerability data: %s.", md(unscanned(r)))
	}
	fmt.Fprintf(w, "\n\n**%s**\n\n", verdict(r))
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "No vulnerabilities found.")
	} else {
		fmt.Fprintln(w, "| Package | Installed | Fixed in | Severity | IDs | Status |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
		for _, f := range r.Findings {
			status := string(f.Status)
			if f.Fails {
				status = "**fails**"
			}
			// The program's reach, when graded: "affected, imported".
			if f.Reachability != "" {
				status += ", " + f.Reachability
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", md(f.Package.Name), md(f.Package.Version), md(fixed(f)), f.Severity, md(ids(f)), status)
		}
		if lines := reachPaths(r); len(lines) > 0 {
			fmt.Fprintf(w, "\nCall paths to the vulnerable functions:\n\n- %s\n", strings.Join(mdAll(lines), "\n- "))
		}
	}
	if c := r.Capabilities; c != nil {
		writeCapabilitiesMarkdown(w, c)
	}
	writePostureMarkdown(w, r)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\n> ⚠️ %s", md(warn))
	}
	_, err := fmt.Fprintln(w)
	return err
}

func mdAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = md(l)
	}
	return out
}

// md escapes what would break a table cell.
func md(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// writeCapabilitiesMarkdown lists the undeclared capabilities, with the
// call that exercises each.
func writeCapabilitiesMarkdown(w io.Writer, rep *capabilities.Report) {
	if rep.Passed() {
		fmt.Fprintf(w, "\nCapabilities: every capability the code exercises is declared in `%s`.\n", rep.Declared)
	} else {
		fmt.Fprintf(w, "\n**%d capabilities not declared in `%s`**\n\n| Module | Capability | Call path |\n| --- | --- | --- |\n", len(rep.Violations), rep.Declared)
		for _, v := range rep.Violations {
			fmt.Fprintf(w, "| %s | %s | %s |\n", md(v.Module), v.Capability, md(capabilities.PathString(v.Path)))
		}
	}
	for _, u := range rep.Unused {
		fmt.Fprintf(w, "\n> ℹ️ `%s:%d` grants %s %s, which no code uses", rep.Declared, u.Line, md(u.Subject), u.Capability)
	}
	if len(rep.Unused) > 0 {
		fmt.Fprintln(w)
	}
}
