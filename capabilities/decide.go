package capabilities

import (
	"math"
	"strings"
)

// Decide says whether module may exercise c. Among the rules whose subject
// matches the module and one of whose capabilities covers c, the most
// specific subject wins: an exact subject beats any glob, and among globs
// the one with more literal characters; at equal specificity a deny wins.
// When rules name the module but none covers c, c is denied. When no rule
// names the module, the "unlisted" action decides.
func (f *File) Decide(module string, c Capability) Decision {
	var best *Rule
	listed := false
	for i := range f.Rules {
		r := &f.Rules[i]
		if !matchSubject(r.Subject, module) {
			continue
		}
		listed = true
		if !r.covers(c) {
			continue
		}
		if best == nil || specificity(r.Subject) > specificity(best.Subject) ||
			specificity(r.Subject) == specificity(best.Subject) && r.Deny && !best.Deny {
			best = r
		}
	}
	switch {
	case best != nil:
		return Decision{Allowed: !best.Deny, Rule: best}
	case listed:
		return Decision{}
	}
	switch f.Unlisted {
	case Allow:
		return Decision{Allowed: true, Unlisted: true}
	case Warn:
		return Decision{Allowed: true, Warn: true, Unlisted: true}
	}
	return Decision{Unlisted: true}
}

func (r *Rule) covers(c Capability) bool {
	for _, g := range r.Caps {
		if g.Covers(c) {
			return true
		}
	}
	return false
}

// matchSubject reports whether a rule's subject names the module. Globs
// name module paths only, never main or runtime.
func matchSubject(subject, path string) bool {
	if !strings.Contains(subject, "*") {
		return subject == path
	}
	if path == mainSubject || path == runtimeSubject {
		return false
	}
	return glob(subject, path)
}

// glob reports whether s matches pattern, where "*" matches any run of
// bytes, "/" included.
func glob(pattern, s string) bool {
	p, n := 0, 0
	star, starN := -1, 0
	for n < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, starN = p, n
			p++
		case p < len(pattern) && pattern[p] == s[n]:
			p++
			n++
		case star >= 0:
			// Let the last "*" swallow one more byte and retry from there.
			starN++
			p, n = star+1, starN
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// specificity orders subjects: an exact subject above any glob, globs by
// their number of literal characters.
func specificity(subject string) int {
	n := strings.Count(subject, "*")
	if n == 0 {
		return math.MaxInt
	}
	return len(subject) - n
}
