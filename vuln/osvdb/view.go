package osvdb

import (
	"time"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// matchView reads what matching needs of an OSV record (its id, whether it
// is withdrawn, and each affected package's ranges and versions) in one
// pass over the JSON, without protojson, which took most of the time of
// matching a Go binary's 237 candidate records: a record is decoded in
// full only when it affects a package. It validates the whole document's
// syntax and reads its fields as protojson does (by their exact names),
// and it reports false, leaving the record to
// protojson, on anything it does not read exactly as protojson would:
// escapes or non-ASCII in the strings it keeps, nulls, numbers for enums,
// a field given twice, deep nesting, invalid JSON. A record that protojson
// would refuse for a field matching does not read (a malformed reference,
// say) is still refused, with a warning, if it affects a package.
func matchView(b []byte) (*osvpb.Vulnerability, bool) {
	p := headParser{b: b}
	v := &osvpb.Vulnerability{}
	var seen struct{ id, withdrawn, affected bool }
	p.space()
	ok := p.object(0, func(key []byte, depth int) bool {
		switch string(key) {
		case "id":
			return once(&seen.id) && p.plainString(&v.Id)
		case "withdrawn":
			var s string
			if !once(&seen.withdrawn) || !p.plainString(&s) {
				return false
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return false
			}
			v.Withdrawn = timestamppb.New(t)
			return true
		case "affected":
			if !once(&seen.affected) {
				return false
			}
			return p.viewList(depth, func(depth int) bool {
				a, ok := p.affectedView(depth)
				v.Affected = append(v.Affected, a)
				return ok
			})
		}
		return p.value(depth)
	})
	p.space()
	return v, ok && p.i == len(p.b)
}

// once marks a field seen, and reports false if it already was.
func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

// viewList reads an array (not null) of elements.
func (p *headParser) viewList(depth int, elem func(depth int) bool) bool {
	return p.peek() == '[' && p.array(depth, elem)
}

// viewObject reads an object (not null), handing each member to f.
func (p *headParser) viewObject(depth int, f fieldFunc) bool {
	return p.peek() == '{' && p.object(depth, f)
}

func (p *headParser) affectedView(depth int) (*osvpb.Affected, bool) {
	a := &osvpb.Affected{}
	var seen struct{ pkg, ranges, versions bool }
	ok := p.viewObject(depth, func(key []byte, depth int) bool {
		switch string(key) {
		case "package":
			if !once(&seen.pkg) {
				return false
			}
			a.Package = &osvpb.Package{}
			var eco, name bool
			return p.viewObject(depth, func(key []byte, depth int) bool {
				switch string(key) {
				case "ecosystem":
					return once(&eco) && p.plainString(&a.Package.Ecosystem)
				case "name":
					return once(&name) && p.plainString(&a.Package.Name)
				}
				return p.value(depth)
			})
		case "ranges":
			return once(&seen.ranges) && p.viewList(depth, func(depth int) bool {
				r, ok := p.rangeView(depth)
				a.Ranges = append(a.Ranges, r)
				return ok
			})
		case "versions":
			return once(&seen.versions) && p.viewList(depth, func(int) bool {
				var s string
				ok := p.plainString(&s)
				a.Versions = append(a.Versions, s)
				return ok
			})
		}
		return p.value(depth)
	})
	return a, ok
}

// rangeTypes are the range types protojson reads by name.
var rangeTypes = map[string]osvpb.Range_Type{
	"UNSPECIFIED": osvpb.Range_UNSPECIFIED,
	"GIT":         osvpb.Range_GIT,
	"SEMVER":      osvpb.Range_SEMVER,
	"ECOSYSTEM":   osvpb.Range_ECOSYSTEM,
}

func (p *headParser) rangeView(depth int) (*osvpb.Range, bool) {
	r := &osvpb.Range{}
	var seen struct{ typ, events bool }
	ok := p.viewObject(depth, func(key []byte, depth int) bool {
		switch string(key) {
		case "type":
			var s string
			if !once(&seen.typ) || !p.plainString(&s) {
				return false
			}
			t, ok := rangeTypes[s]
			r.Type = t
			return ok
		case "events":
			return once(&seen.events) && p.viewList(depth, func(depth int) bool {
				e := &osvpb.Event{}
				var seen struct{ introduced, fixed, limit, lastAffected bool }
				r.Events = append(r.Events, e)
				return p.viewObject(depth, func(key []byte, depth int) bool {
					switch string(key) {
					case "introduced":
						return once(&seen.introduced) && p.plainString(&e.Introduced)
					case "fixed":
						return once(&seen.fixed) && p.plainString(&e.Fixed)
					case "limit":
						return once(&seen.limit) && p.plainString(&e.Limit)
					case "last_affected":
						return once(&seen.lastAffected) && p.plainString(&e.LastAffected)
					}
					return p.value(depth)
				})
			})
		}
		return p.value(depth)
	})
	return r, ok
}
