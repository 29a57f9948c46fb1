// Package hint lets a library error say which setting would change its
// outcome without speaking in one front end's words. A setting is named
// as the command line and the policy both know it, without dashes
// ("max-layers", "unknown-severity"); the error's text spells it so, and
// each front end spells it its own way with Word: the CLI as its flag
// (--max-layers), admission as a policy key or a setting of the server.
package hint

import (
	"strconv"
	"strings"
)

// Hinted is an error whose remedy is a setting.
type Hinted interface {
	error
	// Hint returns the setting and the advice: what to do, with %s
	// where the setting is spelled ("raise %s if the image is trusted").
	Hint() (setting, advice string)
}

// Text is the advice with the setting spelled by spell.
func Text(h Hinted, spell func(setting string) string) string {
	setting, advice := h.Hint()
	return strings.ReplaceAll(advice, "%s", spell(setting))
}

// Plain spells a setting by its name.
func Plain(setting string) string { return setting }

// Error adds a hint to an error: its text is the error's, then the advice
// in parentheses.
type Error struct {
	Err             error
	Setting, Advice string
}

// New returns err with the advice; advice holds %s where the setting is
// spelled.
func New(err error, setting, advice string) error {
	return &Error{Err: err, Setting: setting, Advice: advice}
}

func (e *Error) Error() string {
	return e.Err.Error() + " (" + Text(e, Plain) + ")"
}

// Hint implements Hinted.
func (e *Error) Hint() (setting, advice string) { return e.Setting, e.Advice }

func (e *Error) Unwrap() error { return e.Err }

// Word returns err's text with the advice of every Hinted error in its
// tree spelled by spell instead of plainly.
func Word(err error, spell func(setting string) string) string {
	if err == nil {
		return ""
	}
	// Each plain advice is first marked by a placeholder, so that a
	// spelling that holds the plain text is not taken for it again.
	msg := err.Error()
	var spelled []string
	walk(err, func(h Hinted) {
		mark := "\x00" + strconv.Itoa(len(spelled)) + "\x00"
		if plain := Text(h, Plain); strings.Contains(msg, plain) {
			msg = strings.Replace(msg, plain, mark, 1)
			spelled = append(spelled, Text(h, spell))
		}
	})
	for i, s := range spelled {
		msg = strings.Replace(msg, "\x00"+strconv.Itoa(i)+"\x00", s, 1)
	}
	return msg
}

// walk calls f for each Hinted error in err's tree, outermost first.
func walk(err error, f func(Hinted)) {
	if h, ok := err.(Hinted); ok {
		f(h)
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			walk(next, f)
		}
	case interface{ Unwrap() []error }:
		for _, next := range u.Unwrap() {
			walk(next, f)
		}
	}
}

// Is reports whether err's tree holds a hint of setting.
func Is(err error, setting string) bool {
	found := false
	walk(err, func(h Hinted) {
		if s, _ := h.Hint(); s == setting {
			found = true
		}
	})
	return found
}
