package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
)

// DiffFormats lists the formats of customs diff, the default first.
var DiffFormats = []string{"table", "json", "markdown"}

// WriteComparison renders what changed from a base to a head.
func WriteComparison(w io.Writer, c *result.Comparison, format string) error {
	switch format {
	case "table":
		return diffTable(w, c)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	case "markdown":
		return diffMarkdown(w, c)
	}
	return fmt.Errorf("%w %q: choose one of %s", ErrUnknownFormat, format, strings.Join(DiffFormats, ", "))
}

func side(s result.Side) string {
	out := s.Input
	if s.Revision != "" {
		out += " (" + s.Revision + ")"
	}
	if s.Digest != "" {
		out += " " + s.Digest
	}
	return out
}

func diffVerdict(c *result.Comparison) string {
	if c.Passed {
		return "PASSED: the change brings in nothing the policy fails"
	}
	return "FAILED: " + strings.Join(c.Reasons, "; ")
}

func diffTable(w io.Writer, c *result.Comparison) error {
	fmt.Fprintf(w, "base: %s\nhead: %s\n\n", side(c.Base), side(c.Head))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(c.Added)+len(c.Removed)+len(c.Changed) > 0 {
		fmt.Fprintln(tw, "PACKAGE\tECOSYSTEM\tCHANGE")
		for _, p := range c.Added {
			fmt.Fprintf(tw, "%s\t%s\tadded %s\n", p.Name, p.Ecosystem, p.Version)
		}
		for _, p := range c.Changed {
			fmt.Fprintf(tw, "%s\t%s\t%s -> %s\n", p.Name, p.Ecosystem, p.From, p.To)
		}
		for _, p := range c.Removed {
			fmt.Fprintf(tw, "%s\t%s\tremoved %s\n", p.Name, p.Ecosystem, p.Version)
		}
		fmt.Fprintln(tw)
	}
	if len(c.Introduced)+len(c.Fixed) > 0 {
		fmt.Fprintln(tw, "VULNERABILITY\tPACKAGE\tSEVERITY\tCHANGE")
		for _, f := range c.Introduced {
			change := "introduced"
			if f.Fails {
				change = "introduced, fails"
			}
			fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\n", f.ID, f.Package.Name, f.Package.Version, f.Severity, change)
		}
		for _, f := range c.Fixed {
			fmt.Fprintf(tw, "%s\t%s %s\t%s\tfixed\n", f.ID, f.Package.Name, f.Package.Version, f.Severity)
		}
		fmt.Fprintln(tw)
	}
	if len(c.Reachability) > 0 {
		fmt.Fprintln(tw, "VULNERABILITY\tPACKAGE\tREACHABILITY")
		for _, ch := range c.Reachability {
			fmt.Fprintf(tw, "%s\t%s %s\t%s -> %s\n", ch.ID, ch.Package, ch.Version, ch.From, ch.To)
		}
		fmt.Fprintln(tw)
	}
	if len(c.CapabilitiesGained)+len(c.CapabilitiesLost) > 0 {
		fmt.Fprintln(tw, "MODULE\tCAPABILITY\tCHANGE\tWHERE")
		for _, ch := range append(append([]capabilities.Change{}, c.CapabilitiesGained...), c.CapabilitiesLost...) {
			change := "lost"
			if ch.Added {
				change = "gained"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ch.Module, ch.Capability, change, capabilities.PathString(ch.Path))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if c.DeclarationDiff != "" {
		fmt.Fprintf(w, "capabilities.txt:\n%s\n", c.DeclarationDiff)
	}
	if s := c.Signature; s != nil {
		fmt.Fprintf(w, "signature: %s -> %s\n\n", s.Base, s.Head)
	}
	if len(c.Added)+len(c.Removed)+len(c.Changed)+len(c.Introduced)+len(c.Fixed)+len(c.CapabilitiesGained)+len(c.CapabilitiesLost)+len(c.Reachability) == 0 && c.Signature == nil {
		fmt.Fprintln(w, "No changes in packages, vulnerabilities, capabilities or signatures.")
	}
	fmt.Fprintln(w, diffVerdict(c))
	return nil
}

// diffMarkdown is a pull-request comment: GitHub and GitLab render it.
func diffMarkdown(w io.Writer, c *result.Comparison) error {
	mark := "✅"
	if !c.Passed {
		mark = "❌"
	}
	fmt.Fprintf(w, "### %s customs: what this change brings in\n\n", mark)
	fmt.Fprintf(w, "Base `%s`, head `%s`.\n\n**%s**\n\n", md(side(c.Base)), md(side(c.Head)), md(diffVerdict(c)))
	if len(c.Introduced)+len(c.Fixed) > 0 {
		fmt.Fprintln(w, "#### Vulnerabilities\n\n| | ID | Package | Severity | Fixed in |\n| --- | --- | --- | --- | --- |")
		for _, f := range c.Introduced {
			m := "➕ introduced"
			if f.Fails {
				m = "❌ **introduced, fails**"
			}
			fmt.Fprintf(w, "| %s | %s | %s %s | %s | %s |\n", m, md(f.ID), md(f.Package.Name), md(f.Package.Version), f.Severity, md(fixed(f)))
		}
		for _, f := range c.Fixed {
			fmt.Fprintf(w, "| ✅ fixed | %s | %s %s | %s | %s |\n", md(f.ID), md(f.Package.Name), md(f.Package.Version), f.Severity, md(fixed(f)))
		}
		fmt.Fprintln(w)
	}
	if len(c.Reachability) > 0 {
		fmt.Fprintln(w, "#### Reachability\n\n| ID | Package | Was | Now |\n| --- | --- | --- | --- |")
		for _, ch := range c.Reachability {
			fmt.Fprintf(w, "| %s | %s %s | %s | %s |\n", md(ch.ID), md(ch.Package), md(ch.Version), ch.From, ch.To)
		}
		fmt.Fprintln(w)
	}
	if len(c.CapabilitiesGained)+len(c.CapabilitiesLost) > 0 {
		fmt.Fprintln(w, "#### Capabilities\n\n| | Module | Capability | Where |\n| --- | --- | --- | --- |")
		for _, ch := range c.CapabilitiesGained {
			fmt.Fprintf(w, "| ⚠️ gained | %s | %s | %s |\n", md(ch.Module), ch.Capability, md(capabilities.PathString(ch.Path)))
		}
		for _, ch := range c.CapabilitiesLost {
			fmt.Fprintf(w, "| lost | %s | %s | %s |\n", md(ch.Module), ch.Capability, md(capabilities.PathString(ch.Path)))
		}
		fmt.Fprintln(w)
	}
	if c.DeclarationDiff != "" {
		fmt.Fprintf(w, "#### capabilities.txt\n\n```diff\n%s```\n\n", c.DeclarationDiff)
	}
	if len(c.Added)+len(c.Removed)+len(c.Changed) > 0 {
		fmt.Fprintf(w, "<details><summary>Packages: %d added, %d changed, %d removed</summary>\n\n| Package | Ecosystem | Change |\n| --- | --- | --- |\n", len(c.Added), len(c.Changed), len(c.Removed))
		for _, p := range c.Added {
			fmt.Fprintf(w, "| %s | %s | added %s |\n", md(p.Name), md(p.Ecosystem), md(p.Version))
		}
		for _, p := range c.Changed {
			fmt.Fprintf(w, "| %s | %s | %s → %s |\n", md(p.Name), md(p.Ecosystem), md(p.From), md(p.To))
		}
		for _, p := range c.Removed {
			fmt.Fprintf(w, "| %s | %s | removed %s |\n", md(p.Name), md(p.Ecosystem), md(p.Version))
		}
		fmt.Fprint(w, "\n</details>\n\n")
	}
	if s := c.Signature; s != nil {
		fmt.Fprintf(w, "Signature: %s → %s\n", md(s.Base), md(s.Head))
	}
	return nil
}
