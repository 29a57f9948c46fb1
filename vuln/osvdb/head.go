package osvdb

import (
	"strings"
	"time"
)

// parseHead reads what the index needs of an OSV record (its id, modified
// time and affected packages) in one pass over the JSON, without
// encoding/json's reflection: building the index of a cold database was
// mostly json.Unmarshal. It validates the whole document as
// json.Unmarshal does, and it reports false, leaving the record to
// json.Unmarshal, on anything it does not decode exactly as
// json.Unmarshal would: escapes or non-ASCII in the strings it keeps,
// nulls or unexpected types in its fields, deep nesting, invalid JSON.
func parseHead(b []byte, h *recordHead) bool {
	p := headParser{b: b}
	*h = recordHead{}
	p.space()
	if !p.object(0, p.record(h)) {
		return false
	}
	p.space()
	return p.i == len(p.b)
}

type headParser struct {
	b []byte
	i int
}

// maxHeadDepth bounds nesting; deeper records go to json.Unmarshal.
const maxHeadDepth = 64

// fieldFunc reads the value of one member of an object, given its key
// (raw, without quotes); it reports false to give up.
type fieldFunc func(key []byte, depth int) bool

func (p *headParser) record(h *recordHead) fieldFunc {
	return func(key []byte, depth int) bool {
		switch {
		case fold(key, "id"):
			return p.plainString(&h.ID)
		case fold(key, "modified"):
			start := p.i
			var s string
			if !p.plainString(&s) {
				return false
			}
			var t time.Time
			if t.UnmarshalJSON(p.b[start:p.i]) != nil {
				return false
			}
			h.Modified = t
			return true
		case fold(key, "affected"):
			// A second "affected" would be decoded by json.Unmarshal into
			// the first one's elements: leave that to it.
			if h.Affected != nil || p.peek() != '[' {
				return false
			}
			var affected []affectedHead
			ok := p.array(depth, func(depth int) bool {
				var a affectedHead
				if p.peek() != '{' {
					return false
				}
				ok := p.object(depth, func(key []byte, depth int) bool {
					if !fold(key, "package") {
						return p.value(depth)
					}
					if p.peek() != '{' {
						return false
					}
					return p.object(depth, func(key []byte, depth int) bool {
						switch {
						case fold(key, "ecosystem"):
							return p.plainString(&a.Package.Ecosystem)
						case fold(key, "name"):
							return p.plainString(&a.Package.Name)
						}
						return p.value(depth)
					})
				})
				affected = append(affected, a)
				return ok
			})
			if affected == nil {
				affected = []affectedHead{}
			}
			h.Affected = affected
			return ok
		}
		return p.value(depth)
	}
}

// fold is encoding/json's key matching for ASCII keys: case-insensitive.
// Keys with other bytes (the Kelvin sign folds to k, the long s to s) are
// never seen here: object gives up on them.
func fold(key []byte, name string) bool {
	return len(key) == len(name) && strings.EqualFold(string(key), name)
}

func (p *headParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *headParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads {"key": value, ...}, handing each member to f.
func (p *headParser) object(depth int, f fieldFunc) bool {
	return p.list('{', '}', depth, func(depth int) bool {
		start := p.i
		plain, ok := p.str()
		if !ok || !plain {
			// A key with escapes or non-ASCII bytes could still name a
			// field under json.Unmarshal's folding: leave it to it.
			return false
		}
		key := p.b[start+1 : p.i-1]
		p.space()
		if p.peek() != ':' {
			return false
		}
		p.i++
		p.space()
		return f(key, depth)
	})
}

// array reads [value, ...], handing each element to f.
func (p *headParser) array(depth int, f func(depth int) bool) bool {
	return p.list('[', ']', depth, f)
}

// list reads open, elements separated by commas, and close, one level
// deeper, handing each element to elem.
func (p *headParser) list(open, close byte, depth int, elem func(depth int) bool) bool {
	if depth++; depth > maxHeadDepth || p.peek() != open {
		return false
	}
	p.i++
	p.space()
	if p.peek() == close {
		p.i++
		return true
	}
	for {
		if !elem(depth) {
			return false
		}
		p.space()
		switch p.peek() {
		case ',':
			p.i++
			p.space()
		case close:
			p.i++
			return true
		default:
			return false
		}
	}
}

// value skips any JSON value, checking its syntax.
func (p *headParser) value(depth int) bool {
	switch c := p.peek(); {
	case c == '{':
		return p.object(depth, func(_ []byte, depth int) bool { return p.value(depth) })
	case c == '[':
		return p.array(depth, p.value)
	case c == '"':
		_, ok := p.str()
		return ok
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return false
}

func (p *headParser) literal(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// number checks JSON's number grammar.
func (p *headParser) number() bool {
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.peek() == '-' {
		p.i++
	}
	switch {
	case p.peek() == '0':
		p.i++
	case digits() == 0:
		return false
	}
	if p.peek() == '.' {
		p.i++
		if digits() == 0 {
			return false
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// str reads a string, checking its escapes; plain says it has no escapes
// and only ASCII, so that its bytes are its value.
func (p *headParser) str() (plain, ok bool) {
	if p.peek() != '"' {
		return false, false
	}
	p.i++
	plain = true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return plain, true
		case c < 0x20:
			return false, false
		case c == '\\':
			plain = false
			if p.i+1 >= len(p.b) {
				return false, false
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.b) {
					return false, false
				}
				for _, h := range p.b[p.i+2 : p.i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false, false
					}
				}
				p.i += 6
			default:
				return false, false
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			p.i++
		}
	}
	return false, false
}

// plainString reads a string value that has no escapes and only ASCII
// into s; anything else gives up.
func (p *headParser) plainString(s *string) bool {
	start := p.i
	plain, ok := p.str()
	if !ok || !plain {
		return false
	}
	*s = string(p.b[start+1 : p.i-1])
	return true
}
