package report

import (
	"cmp"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/osv-scalibr/semantic"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// TableOptions say how the table is drawn.
type TableOptions struct {
	// Color marks severities and the verdict with ANSI colours: for a
	// terminal only, since the codes are noise in a file or a CI log.
	Color bool
}

// WriteTable prints one row per (package, vulnerability) with severity,
// installed and fixed versions, location and summary, then counts by
// severity and the verdict.
func WriteTable(w io.Writer, r *result.Result, opts TableOptions) error {
	fmt.Fprintf(w, "%s", r.Target.Input)
	if r.Target.Digest != "" {
		fmt.Fprintf(w, " (%s)", r.Target.Digest)
	}
	fmt.Fprintln(w)
	if v := r.Verification; v != nil {
		fmt.Fprintf(w, "signature: %s\n", verification(v))
	}
	fmt.Fprintf(w, "%s, %d of them in ecosystems with vulnerability data; database %s revision %s\n", plural(r.Packages.Total, "package"), r.Packages.Matched, r.Database.Dir, r.Database.Revision)
	if len(r.Unscanned) > 0 {
		fmt.Fprintf(w, "not scanned, no vulnerability data: %s\n", unscanned(r))
	}
	fmt.Fprintln(w)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "(no vulnerabilities found)")
	} else {
		// Graded findings (Go vulnerabilities in executables) show how
		// far the program reaches them.
		graded := slices.ContainsFunc(r.Findings, func(f result.Finding) bool { return f.Reachability != "" })
		t := &table{header: []string{"PACKAGE", "INSTALLED", "FIXED IN", "SEVERITY", "ID", "STATUS", "LOCATION", "SUMMARY"}}
		if graded {
			t.header = slices.Insert(t.header, 6, "REACH")
		}
		for _, f := range r.Findings {
			status := string(f.Status)
			if f.Fails {
				status = "FAILS"
			}
			row := []string{f.Package.Name, f.Package.Version, strings.Join(fixedVersions(f), ", "), f.Severity.String(), ids(f), status, location(f.Package.Locations), trim(summary(f), 70)}
			if graded {
				row = slices.Insert(row, 6, f.Reachability)
			}
			t.rows = append(t.rows, row)
		}
		paint := func(col int, cell string) string {
			if col == 3 && opts.Color {
				return severityColor(cell) + cell + reset
			}
			return cell
		}
		if err := t.write(w, paint); err != nil {
			return err
		}
		if lines := reachPaths(r); len(lines) > 0 {
			fmt.Fprintf(w, "\ncall paths to the vulnerable functions:\n  %s\n", strings.Join(lines, "\n  "))
		}
	}
	if r.Capabilities != nil {
		fmt.Fprintf(w, "\n%s\n", strings.Join(capabilityLines(r.Capabilities), "\n"))
	}
	if err := writePostureTable(w, r); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, counts(r.Findings))
	}
	v := verdict(r)
	if opts.Color {
		color := green
		if !r.Gate.Passed {
			color = red
		}
		v = color + v + reset
	}
	_, err := fmt.Fprintln(w, v)
	return err
}

func writeTable(w io.Writer, r *result.Result) error {
	return WriteTable(w, r, TableOptions{})
}

// table lays out columns by the width of their text, so that colour codes
// added to a cell do not shift the columns as they would in a tabwriter.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) write(w io.Writer, paint func(col int, cell string) string) error {
	width := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(row []string, painted bool) string {
		var b strings.Builder
		for i, c := range row {
			text := c
			if painted {
				text = paint(i, c)
			}
			b.WriteString(text)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		return strings.TrimRight(b.String(), " ") + "\n"
	}
	if _, err := io.WriteString(w, line(t.header, false)); err != nil {
		return err
	}
	for _, row := range t.rows {
		if _, err := io.WriteString(w, line(row, true)); err != nil {
			return err
		}
	}
	return nil
}

// ANSI colours, as Trivy and grype use them for severities.
const (
	reset   = "\x1b[0m"
	red     = "\x1b[31m"
	boldRed = "\x1b[1;31m"
	yellow  = "\x1b[33m"
	cyan    = "\x1b[36m"
	green   = "\x1b[32m"
	grey    = "\x1b[90m"
)

func severityColor(s string) string {
	switch s {
	case "CRITICAL":
		return boldRed
	case "HIGH":
		return red
	case "MEDIUM":
		return yellow
	case "LOW":
		return cyan
	}
	return grey
}

// counts says how many findings there are of each severity, the most severe
// first, and how many of them the policy set aside.
func counts(findings []result.Finding) string {
	by := map[vuln.Severity]int{}
	set := map[result.Status]int{}
	for _, f := range findings {
		by[f.Severity]++
		if f.Status != result.Affected {
			set[f.Status]++
		}
	}
	var parts []string
	for s := vuln.Critical; s >= vuln.Unknown; s-- {
		if by[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", by[s], s))
		}
	}
	s := fmt.Sprintf("%s: %s", plural(len(findings), "vulnerability"), strings.Join(parts, ", "))
	var aside []string
	for _, st := range []result.Status{result.Ignored, result.NotAffected, result.Fixed} {
		if set[st] > 0 {
			aside = append(aside, fmt.Sprintf("%d %s", set[st], strings.ReplaceAll(string(st), "_", " ")))
		}
	}
	if len(aside) > 0 {
		s += " (" + strings.Join(aside, ", ") + ")"
	}
	return s
}

// plural writes "1 package", "2 packages", "3 vulnerabilities".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// commit matches what may be a git commit hash: OSV records of GIT ranges
// give those as fixes, and they mean nothing next to a package version.
var commit = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// isCommit tells a commit hash from a version of hex digits: a full hash,
// or an abbreviated one with a letter in it.
func isCommit(v string) bool {
	return commit.MatchString(v) && (len(v) == 40 || strings.ContainsAny(v, "abcdef"))
}

// fixedVersions are the finding's fixed versions that are versions of the
// package, in the ecosystem's order.
func fixedVersions(f result.Finding) []string {
	var out []string
	for _, v := range recordFixes(f) {
		if !strings.ContainsFunc(v, unicode.IsDigit) || strings.ContainsFunc(v, unicode.IsSpace) || isCommit(v) {
			continue
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	eco, _, _ := strings.Cut(f.Package.Ecosystem, ":")
	slices.SortStableFunc(out, func(a, b string) int {
		if va, ok := parseVersion(a, eco); ok {
			if c, err := va.CompareStr(b); err == nil {
				return c
			}
		}
		return cmp.Compare(a, b)
	})
	if len(out) == 0 {
		return []string{"-"}
	}
	return out
}

// recordFixes are the fixes of the finding's records for its package's
// ecosystem and release, from version ranges only; a finding read back from
// JSON has no records, and keeps its fixed versions.
func recordFixes(f result.Finding) []string {
	if len(f.Records) == 0 {
		return f.Fixed
	}
	var out []string
	for _, r := range f.Records {
		for _, a := range r.GetAffected() {
			if a.GetPackage().GetName() != f.Package.Name || !sameRelease(a.GetPackage().GetEcosystem(), f.Package.Ecosystem) {
				continue
			}
			for _, rg := range a.GetRanges() {
				if rg.GetType() != osvpb.Range_ECOSYSTEM && rg.GetType() != osvpb.Range_SEMVER {
					continue
				}
				for _, e := range rg.GetEvents() {
					if e.GetFixed() != "" {
						out = append(out, e.GetFixed())
					}
				}
			}
		}
	}
	return out
}

// sameRelease compares ecosystems with their releases ("Debian:12"); an
// entry without a release holds for every release.
func sameRelease(record, pkg string) bool {
	rb, rs, _ := strings.Cut(record, ":")
	pb, ps, _ := strings.Cut(pkg, ":")
	return rb == pb && (rs == "" || rs == ps)
}

func parseVersion(s, ecosystem string) (v semantic.Version, ok bool) {
	// The parsers of some ecosystems panic on input they do not expect.
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	v, err := semantic.Parse(s, ecosystem)
	return v, err == nil
}

// location is where the package was found: the first path, without the
// image layer's digest, and how many more there are.
func location(locs []string) string {
	if len(locs) == 0 {
		return "-"
	}
	l := locs[0]
	if strings.HasPrefix(l, "sha256:") {
		if _, path, ok := strings.Cut(strings.TrimPrefix(l, "sha256:"), ":"); ok {
			l = path
		}
	}
	if len(locs) > 1 {
		l += fmt.Sprintf(" (+%d)", len(locs)-1)
	}
	return l
}

// summary is the finding's summary or, for records that have none (PYSEC
// ones have only details), the first sentence of the details.
func summary(f result.Finding) string {
	if f.Summary != "" {
		return oneLine(f.Summary)
	}
	for _, r := range f.Records {
		if d := r.GetDetails(); d != "" {
			return firstSentence(d)
		}
	}
	return ""
}

func firstSentence(s string) string {
	s = oneLine(s)
	for i := 0; i < len(s); i++ {
		if (s[i] == '.' || s[i] == '!' || s[i] == '?') && (i+1 == len(s) || s[i+1] == ' ') {
			return s[:i+1]
		}
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func trim(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// verification says in a line what the trust policy made of the image.
func verification(v *result.Verification) string {
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

// reachPaths are the call paths of the called findings in Go source, a
// line each.
func reachPaths(r *result.Result) []string {
	var out []string
	for _, f := range r.Findings {
		if len(f.ReachabilityPath) > 0 {
			out = append(out, fmt.Sprintf("%s in %s: %s", f.ID, f.Package.Name, capabilities.PathString(f.ReachabilityPath)))
		}
	}
	return out
}
