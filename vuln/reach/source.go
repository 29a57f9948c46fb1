package reach

import (
	"slices"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/customs-dev/customs/capabilities"
)

// Source is what reachability needs of Go source: what its entry points
// reach, from the call graph capabilities builds.
type Source struct {
	Reach   *capabilities.Reach
	symbols map[string]map[string]bool
}

// NewSource grades against what a program's entry points reach.
func NewSource(r *capabilities.Reach) *Source {
	return &Source{Reach: r, symbols: r.Symbols()}
}

// Level grades a Go vulnerability record for a module, as govulncheck's
// source mode does: called when the entry points reach one of its
// vulnerable functions (any function of a vulnerable package that names
// none), imported when a vulnerable package is imported, required
// otherwise; unknown when the record names no vulnerable package. As in
// govulncheck, the record's platforms are not consulted: the build
// already left out what is not for the analysed one. A module that
// provides no package to the build (go.mod requires it for a package
// nobody imports, or for its own tests) is required whatever the record
// says: none of its code is in the program. govulncheck does not report
// it at all.
func (s *Source) Level(rec *osvpb.Vulnerability, module string) Level {
	if s == nil || s.Reach == nil {
		return Unknown
	}
	if module != StdlibModule && !slices.Contains(s.Reach.Modules, module) {
		return Required
	}
	return level(s.symbols, "", "", rec, module)
}

// Path returns a shortest call path from an entry point to one of the
// record's vulnerable functions for module, nil when none is reached.
func (s *Source) Path(rec *osvpb.Vulnerability, module string) []capabilities.Frame {
	if s == nil || s.Reach == nil {
		return nil
	}
	var best []capabilities.Frame
	for _, p := range vulnPackages(rec, module) {
		if path := s.Reach.Path(p.path, p.symbols); path != nil && (best == nil || len(path) < len(best)) {
			best = path
		}
	}
	return best
}
