package capabilities

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Format aligns the columns of the rules: the capabilities start at least
// at column subjectWidth+1, the scopes at least capsWidth further (the
// layout of the example in docs/capabilities.md), and further when a
// longer cell needs it, so that every cell is followed by two spaces.
const (
	subjectWidth = 32
	capsWidth    = 35
	cellGap      = 2
)

// Format prints the file back: directives and full-line comments as
// written, rules one per line with their columns aligned (see
// docs/capabilities.md), trailing comments written "# comment".
//
// Alignment only adds spaces, so a line or a file it would make longer
// than Parse reads is printed compact instead, with single spaces and no
// space around "#": never longer than what Parse read.
func (f *File) Format() []byte {
	lines := f.layout()
	if b := f.print(lines, newColumns(f, lines)); len(b) <= maxFileSize {
		return b
	}
	return f.print(lines, nil)
}

// columns are the 0-based offsets where the cells of a line start.
type columns struct {
	comment     int // a directive's comment
	caps, scope int
	ruleComment int
}

// newColumns aligns: every cell is followed by at least cellGap spaces,
// and every trailing comment of a rule starts in one column, after the
// scopes of the rules that have both.
func newColumns(f *File, lines []Line) *columns {
	w1, w2 := subjectWidth, capsWidth
	for _, l := range lines {
		if isDirective(l.Kind) && l.Comment != "" {
			w1 = max(w1, len(f.directive(l.Kind))+cellGap)
		}
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		w1 = max(w1, len(r.subjectCell())+cellGap)
		w2 = max(w2, len(r.capsCell())+cellGap)
	}
	c := &columns{comment: w1, caps: w1, scope: w1 + w2, ruleComment: w1 + w2}
	for i := range f.Rules {
		if r := &f.Rules[i]; r.Comment != "" && len(r.Scopes) > 0 {
			c.ruleComment = max(c.ruleComment, w1+w2+utf8.RuneCountInString(r.scopeCell())+cellGap)
		}
	}
	return c
}

// print prints the lines aligned in cols, or compact when cols is nil.
func (f *File) print(lines []Line, cols *columns) []byte {
	var b bytes.Buffer
	next := 0
	for _, l := range lines {
		var s string
		switch l.Kind {
		case BlankLine:
		case CommentLine:
			s = "#" + l.Comment
		case RuleLine:
			s = f.Rules[next].format(cols)
			next++
		default:
			d := f.directive(l.Kind)
			s = d
			if l.Comment != "" {
				if cols != nil {
					s = pad(d, cols.comment) + "# " + l.Comment
				}
				if cols == nil || len(s) > maxLineSize {
					s = d + "#" + l.Comment
				}
			}
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func isDirective(k LineKind) bool {
	return k == VersionLine || k == UnlistedLine || k == OnViolationLine
}

// directive is the text of a directive line, without its comment.
func (f *File) directive(k LineKind) string {
	switch k {
	case VersionLine:
		return fmt.Sprintf("capabilities %d", f.Version)
	case UnlistedLine:
		if f.Unlisted == "" {
			return "unlisted " + string(Deny)
		}
		return "unlisted " + string(f.Unlisted)
	default:
		if f.OnViolation == "" {
			return "on-violation log"
		}
		return "on-violation " + f.OnViolation
	}
}

// layout is f.Lines made whole for printing: the version directive before
// any other directive or rule, each directive once, a directive with a
// value other than its default printed even when Lines lacks it, and one
// RuleLine per rule. For a File that Parse returned it is f.Lines.
func (f *File) layout() []Line {
	if f.Lines == nil {
		lines := []Line{{Kind: VersionLine}, {Kind: UnlistedLine}, {Kind: OnViolationLine}}
		if len(f.Rules) > 0 {
			lines = append(lines, Line{Kind: BlankLine})
		}
		for range f.Rules {
			lines = append(lines, Line{Kind: RuleLine})
		}
		return lines
	}
	var lines []Line
	seen := map[LineKind]bool{}
	version := -1 // index of the version line in lines
	rules := 0
	for _, l := range f.Lines {
		switch {
		case l.Kind == BlankLine || l.Kind == CommentLine:
			lines = append(lines, l)
			continue
		case l.Kind == RuleLine && rules == len(f.Rules), isDirective(l.Kind) && seen[l.Kind]:
			continue
		case l.Kind != RuleLine && !isDirective(l.Kind):
			continue
		}
		if version < 0 {
			version = len(lines)
			if l.Kind != VersionLine {
				lines = append(lines, Line{Kind: VersionLine})
			}
			seen[VersionLine] = true
		}
		if l.Kind == RuleLine {
			rules++
		}
		seen[l.Kind] = true
		lines = append(lines, l)
	}
	if version < 0 {
		version = len(lines)
		lines = append(lines, Line{Kind: VersionLine})
	}
	var missing []Line
	if !seen[UnlistedLine] && f.Unlisted != "" && f.Unlisted != Deny {
		missing = append(missing, Line{Kind: UnlistedLine})
	}
	if !seen[OnViolationLine] && f.OnViolation != "" && f.OnViolation != "log" {
		missing = append(missing, Line{Kind: OnViolationLine})
	}
	lines = append(lines[:version+1], append(missing, lines[version+1:]...)...)
	for ; rules < len(f.Rules); rules++ {
		lines = append(lines, Line{Kind: RuleLine})
	}
	return lines
}

func (r *Rule) subjectCell() string {
	if r.Deny {
		return "deny " + r.Subject
	}
	return r.Subject
}

func (r *Rule) capsCell() string {
	s := make([]string, len(r.Caps))
	for i, c := range r.Caps {
		s[i] = string(c)
	}
	return strings.Join(s, " ")
}

func (r *Rule) scopeCell() string {
	s := make([]string, len(r.Scopes))
	for i, sc := range r.Scopes {
		s[i] = sc.Key + "=" + sc.Value
	}
	return strings.Join(s, " ")
}

// format prints the rule aligned in cols, or compact when cols is nil or
// alignment would make the line longer than Parse reads.
func (r *Rule) format(cols *columns) string {
	subject, caps, scopes := r.subjectCell(), r.capsCell(), r.scopeCell()
	if cols != nil {
		s := pad(subject, cols.caps) + caps
		if scopes != "" {
			s = pad(s, cols.scope) + scopes
		}
		if r.Comment != "" {
			s = pad(s, cols.ruleComment) + "# " + r.Comment
		}
		if len(s) <= maxLineSize {
			return s
		}
	}
	s := subject + " " + caps
	if scopes != "" {
		s += " " + scopes
	}
	if r.Comment != "" {
		s += "#" + r.Comment
	}
	return s
}

// pad appends spaces to s up to width runes, and at least cellGap.
func pad(s string, width int) string {
	n := max(width-utf8.RuneCountInString(s), cellGap)
	return s + strings.Repeat(" ", n)
}
