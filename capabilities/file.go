package capabilities

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/module"
)

// A capabilities.txt is written by people and reviewed line by line;
// anything larger than this is not one, and Parse stops reading.
const (
	maxFileSize = 1 << 20
	maxLineSize = 4096
)

// The subjects that are no module path: the main module, and run-time
// events with no non-standard frame.
const (
	mainSubject    = "main"
	runtimeSubject = "runtime"
)

// Action is what happens to a module no rule names ("unlisted").
type Action string

// The actions of the "unlisted" directive.
const (
	Deny  Action = "deny"
	Warn  Action = "warn"
	Allow Action = "allow"
)

// File is a parsed capabilities.txt.
type File struct {
	// Name is the file name, for messages.
	Name string
	// Version is the format version of the "capabilities 1" directive.
	Version int
	// Unlisted decides for modules no rule names; "" reads as Deny.
	Unlisted Action
	// OnViolation is the run-time action: "log", "stop" or "kill"; "" reads
	// as "log".
	OnViolation string
	Rules       []Rule
	// Lines is the file's layout, one entry per line, so that Format prints
	// comments, blank lines and directives back where they stood. Parse
	// fills it; a File built in code may leave it nil, and Format then
	// prints the three directives, a blank line and the rules.
	Lines []Line
}

// LineKind is what a line of a capabilities.txt holds.
type LineKind int

// The kinds of line.
const (
	BlankLine       LineKind = iota // nothing but spaces and tabs
	CommentLine                     // a full-line comment
	VersionLine                     // capabilities N
	UnlistedLine                    // unlisted ACTION
	OnViolationLine                 // on-violation ACTION
	RuleLine                        // the next rule of File.Rules
)

// Line is one line of a capabilities.txt. The values of directives and
// rules live in File; a line only says where they stand.
type Line struct {
	Kind LineKind
	// Comment is, on a CommentLine, the text after "#" as written (trailing
	// spaces and tabs dropped) and, on a directive line, the trailing
	// comment without "#" and surrounding space. A RuleLine's comment is
	// its Rule's.
	Comment string
}

// Rule is a grant or a deny of capabilities to the modules a subject names.
type Rule struct {
	// Deny is set for a line starting with "deny".
	Deny bool
	// Subject is a Go module path, possibly with "*" globs, or "main", or
	// "runtime".
	Subject string
	// Caps are the capabilities granted or denied, ALL for every one.
	Caps []Capability
	// Scopes restrict the rule at run time; statically a scoped rule counts
	// as unscoped.
	Scopes []Scope
	// Comment is the trailing comment, without "#" and surrounding space.
	Comment string
	// Line and Col are where the rule starts, 1-based; Col counts bytes.
	Line, Col int
}

// Scope is a key=value restriction of a rule at run time: host, path or
// program.
type Scope struct{ Key, Value string }

// Match reports whether a run-time argument (an address "host:port", a
// path, a program) falls in the scope, whose "*" matches any run of
// characters, "/" included.
func (s Scope) Match(value string) bool { return glob(s.Value, value) }

// The scope keys.
var scopeKeys = []string{"host", "path", "program"}

// The actions of the "on-violation" directive.
var onViolationActions = []string{"log", "stop", "kill"}

// ParseError is a malformed capabilities.txt.
type ParseError struct {
	File      string
	Line, Col int // 1-based; Col counts bytes
	Msg       string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Decision is what a File says about a module exercising a capability.
type Decision struct {
	Allowed bool
	// Warn is set when the capability is allowed only because of
	// "unlisted warn".
	Warn bool
	// Rule is the rule that decided, a pointer into File.Rules; nil when
	// none did: either no rule names the module (Unlisted is set and the
	// "unlisted" action decided) or rules name the module but none of them
	// covers the capability, which is then denied.
	Rule *Rule
	// Unlisted is set when no rule's subject matches the module.
	Unlisted bool
}

// Parse reads a capabilities.txt. Every error is a *ParseError naming the
// file, line and column of the offending token.
func Parse(name string, b []byte) (*File, error) {
	p := &parser{
		f:    &File{Name: name, Unlisted: Deny, OnViolation: "log"},
		seen: map[string]int{},
	}
	// A final newline does not count: Format adds one to a file that has
	// none.
	if len(bytes.TrimSuffix(b, []byte("\n"))) > maxFileSize {
		line := 1 + bytes.Count(b[:maxFileSize], []byte("\n"))
		col := maxFileSize - bytes.LastIndexByte(b[:maxFileSize], '\n')
		return nil, p.errorf(line, col, "file longer than %d bytes", maxFileSize)
	}
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		p.line = n
		if err := p.parseLine(line); err != nil {
			return nil, err
		}
	}
	if !p.versioned {
		return nil, p.errorf(1, 1, `missing "capabilities 1" directive`)
	}
	return p.f, nil
}

type parser struct {
	f         *File
	line      int
	versioned bool
	seen      map[string]int // directive name → line
}

func (p *parser) errorf(line, col int, format string, args ...any) error {
	return &ParseError{File: p.f.Name, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// word is a word of a line and its 1-based column.
type word struct {
	text string
	col  int
}

func (p *parser) parseLine(raw []byte) error {
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	if len(raw) > maxLineSize {
		return p.errorf(p.line, maxLineSize+1, "line longer than %d bytes", maxLineSize)
	}
	if err := p.checkText(raw); err != nil {
		return err
	}
	line := string(raw)
	start := 0
	if p.line == 1 && strings.HasPrefix(line, "\uFEFF") {
		start = len("\uFEFF") // a byte-order mark some editors write
	}
	code, comment, hasComment := strings.Cut(line, "#")
	toks := fields(code, start)
	if len(toks) == 0 {
		if hasComment {
			p.f.Lines = append(p.f.Lines, Line{Kind: CommentLine, Comment: strings.TrimRight(comment, " \t")})
		} else {
			p.f.Lines = append(p.f.Lines, Line{Kind: BlankLine})
		}
		return nil
	}
	comment = strings.Trim(comment, " \t")
	switch toks[0].text {
	case "capabilities", "unlisted", "on-violation":
		return p.directive(toks, comment)
	}
	return p.rule(toks, comment)
}

// checkText rejects what is not text, and the characters that can make a
// line read differently in review from what it says.
func (p *parser) checkText(b []byte) error {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == 0:
			return p.errorf(p.line, i+1, "NUL byte: not a text file")
		case r == utf8.RuneError && size == 1:
			return p.errorf(p.line, i+1, "invalid UTF-8")
		case r < 0x20 && r != '\t', 0x7f <= r && r < 0xa0, r == '\u2028', r == '\u2029':
			return p.errorf(p.line, i+1, "control character %U", r)
		case 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069, r == '\u200e', r == '\u200f', r == '\u061c':
			return p.errorf(p.line, i+1, "bidirectional control character %U", r)
		}
		i += size
	}
	return nil
}

// fields splits s at spaces and tabs, from byte start on.
func fields(s string, start int) []word {
	var toks []word
	for i := start; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		toks = append(toks, word{s[i:j], i + 1})
		i = j
	}
	return toks
}

func (p *parser) directive(toks []word, comment string) error {
	d := toks[0]
	if d.text != "capabilities" && !p.versioned {
		return p.errorf(p.line, d.col, `%q directive before "capabilities 1", which must be the first directive`, d.text)
	}
	if first, ok := p.seen[d.text]; ok {
		return p.errorf(p.line, d.col, "duplicate %q directive (first on line %d)", d.text, first)
	}
	p.seen[d.text] = p.line
	if len(toks) < 2 {
		switch d.text {
		case "capabilities":
			return p.errorf(p.line, d.col+len(d.text), `missing format version: write "capabilities 1"`)
		case "unlisted":
			return p.errorf(p.line, d.col+len(d.text), "missing unlisted action: want deny, warn or allow")
		default:
			return p.errorf(p.line, d.col+len(d.text), "missing on-violation action: want log, stop or kill")
		}
	}
	if len(toks) > 2 {
		return p.errorf(p.line, toks[2].col, "unexpected %q after %q", toks[2].text, d.text+" "+toks[1].text)
	}
	v := toks[1]
	var kind LineKind
	switch d.text {
	case "capabilities":
		if v.text != "1" {
			return p.errorf(p.line, v.col, "unknown format version %q: this program reads version 1", v.text)
		}
		p.f.Version, p.versioned, kind = 1, true, VersionLine
	case "unlisted":
		switch a := Action(v.text); a {
		case Deny, Warn, Allow:
			p.f.Unlisted, kind = a, UnlistedLine
		default:
			return p.errorf(p.line, v.col, "unknown unlisted action %q: want deny, warn or allow", v.text)
		}
	case "on-violation":
		if !contains(onViolationActions, v.text) {
			return p.errorf(p.line, v.col, "unknown on-violation action %q: want log, stop or kill", v.text)
		}
		p.f.OnViolation, kind = v.text, OnViolationLine
	}
	p.f.Lines = append(p.f.Lines, Line{Kind: kind, Comment: comment})
	return nil
}

func (p *parser) rule(toks []word, comment string) error {
	r := Rule{Line: p.line, Col: toks[0].col, Comment: comment}
	if toks[0].text == "deny" {
		r.Deny = true
		toks = toks[1:]
		if len(toks) == 0 {
			return p.errorf(p.line, r.Col, "deny without a subject")
		}
	}
	subj := toks[0]
	if err := p.checkSubject(subj, !r.Deny); err != nil {
		return err
	}
	r.Subject = subj.text
	toks = toks[1:]
	for len(toks) > 0 && !strings.Contains(toks[0].text, "=") {
		t := toks[0]
		c := Capability(t.text)
		switch {
		case !c.Valid() && Capability(strings.ToUpper(t.text)).Valid():
			return p.errorf(p.line, t.col, "unknown capability %q (capability names are upper case: %s)", t.text, strings.ToUpper(t.text))
		case !c.Valid():
			return p.errorf(p.line, t.col, "unknown capability %q", t.text)
		case containsCap(r.Caps, c):
			return p.errorf(p.line, t.col, "duplicate capability %s", c)
		}
		r.Caps = append(r.Caps, c)
		toks = toks[1:]
	}
	if len(r.Caps) == 0 {
		if len(toks) > 0 {
			return p.errorf(p.line, toks[0].col, "scope %q before any capability", toks[0].text)
		}
		return p.errorf(p.line, subj.col+len(subj.text), "missing capability for %s", subj.text)
	}
	for _, t := range toks {
		key, value, ok := strings.Cut(t.text, "=")
		switch {
		case !ok:
			return p.errorf(p.line, t.col, "capability %q after a scope: write the capabilities first", t.text)
		case !contains(scopeKeys, key):
			return p.errorf(p.line, t.col, "unknown scope key %q: want host, path or program", key)
		case value == "":
			return p.errorf(p.line, t.col, "empty %s scope", key)
		}
		r.Scopes = append(r.Scopes, Scope{Key: key, Value: value})
	}
	if !p.versioned {
		return p.errorf(p.line, r.Col, `rule before "capabilities 1", which must be the first directive`)
	}
	p.f.Rules = append(p.f.Rules, r)
	p.f.Lines = append(p.f.Lines, Line{Kind: RuleLine})
	return nil
}

// checkSubject accepts main, runtime, a module path, or a module path with
// "*" globs. A bare word is no module path a dependency can have; at the
// start of a line it is taken for a misspelt directive.
func (p *parser) checkSubject(t word, lineStart bool) error {
	s := t.text
	switch {
	case s == mainSubject || s == runtimeSubject:
		return nil
	case strings.Contains(s, "="):
		return p.errorf(p.line, t.col, "missing subject before scope %q", s)
	case Capability(s).Valid():
		return p.errorf(p.line, t.col, "missing subject before capability %s", s)
	case !strings.ContainsAny(s, "./*") && lineStart:
		return p.errorf(p.line, t.col, "unknown directive %q", s)
	case !strings.ContainsAny(s, "./*"):
		return p.errorf(p.line, t.col, "invalid subject %q: want a module path, main or runtime", s)
	case strings.Contains(s, "**"):
		return p.errorf(p.line, t.col, `invalid glob %q: "**" is "*", which matches "/" too`, s)
	}
	kind, path := "module path", s
	if strings.Contains(s, "*") {
		// "z" makes no name Windows reserves ("au*" is no "aux").
		kind, path = "glob", strings.ReplaceAll(s, "*", "z")
	}
	if err := module.CheckImportPath(path); err != nil {
		var perr *module.InvalidPathError
		if errors.As(err, &perr) {
			err = perr.Err
		}
		return p.errorf(p.line, t.col, "invalid %s %q: %v", kind, s, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsCap(list []Capability, c Capability) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}
