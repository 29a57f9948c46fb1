package reach

import (
	"slices"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/types/known/structpb"
)

// Level is how far a program reaches a vulnerability, as govulncheck
// grades it.
type Level string

// The levels, from the most to the least reached.
const (
	// Called: a vulnerable function is in the program.
	Called Level = "called"
	// Unknown: the record or the program does not say; treated as called.
	Unknown Level = "unknown"
	// Imported: a vulnerable package is in the program, none of its
	// vulnerable functions.
	Imported Level = "imported"
	// Required: only the module is.
	Required Level = "required"
	// OtherPlatform: the record's vulnerable packages are all for other
	// platforms (GOOS, GOARCH) than the program's; govulncheck does not
	// report it at all.
	OtherPlatform Level = "other_platform"
)

// Reached reports whether a level counts as reached: called or unknown.
func (l Level) Reached() bool { return l == Called || l == Unknown }

// StdlibModule is the module the Go vulnerability database files the
// standard library under.
const StdlibModule = "stdlib"

// Level grades a Go vulnerability record for a module the binary holds
// (StdlibModule for the standard library): called when one of the
// record's vulnerable symbols for the binary's platform is among the
// binary's functions, imported when only its package is, required
// otherwise; other_platform when every vulnerable package it names is for
// another GOOS or GOARCH; unknown when the record names no vulnerable
// package or the binary's functions could not be read.
func (b *Binary) Level(rec *osvpb.Vulnerability, module string) Level {
	if b == nil || b.Symbols == nil {
		return Unknown
	}
	return level(b.Symbols, b.GOOS, b.GOARCH, rec, module)
}

// level grades a record against the functions a program holds or
// reaches, by package: a package present with no functions is imported.
func level(symbols map[string]map[string]bool, goos, goarch string, rec *osvpb.Vulnerability, module string) Level {
	imports := vulnPackages(rec, module)
	if len(imports) == 0 {
		return Unknown
	}
	level := OtherPlatform
	for _, p := range imports {
		if !p.on(goos, goarch) {
			continue
		}
		if level == OtherPlatform {
			level = Required
		}
		syms, ok := symbols[p.path]
		if !ok {
			continue
		}
		level = Imported
		if len(p.symbols) == 0 && len(syms) > 0 {
			// Every function of the package is vulnerable.
			return Called
		}
		for _, s := range p.symbols {
			if syms[s] {
				return Called
			}
		}
	}
	return level
}

// vulnPackages are the vulnerable packages a record names for a module.
func vulnPackages(rec *osvpb.Vulnerability, module string) []vulnPackage {
	var imports []vulnPackage
	for _, a := range rec.GetAffected() {
		if a.GetPackage().GetName() == module {
			imports = append(imports, packagesOf(a)...)
		}
	}
	return imports
}

// vulnPackage is an entry of a Go record's ecosystem_specific.imports.
type vulnPackage struct {
	path          string
	symbols       []string
	goos, goarchs []string
}

func (p vulnPackage) on(goos, goarch string) bool {
	return (len(p.goos) == 0 || goos == "" || slices.Contains(p.goos, goos)) &&
		(len(p.goarchs) == 0 || goarch == "" || slices.Contains(p.goarchs, goarch))
}

func packagesOf(a *osvpb.Affected) []vulnPackage {
	imports := a.GetEcosystemSpecific().GetFields()["imports"].GetListValue().GetValues()
	var out []vulnPackage
	for _, v := range imports {
		f := v.GetStructValue().GetFields()
		p := vulnPackage{path: f["path"].GetStringValue()}
		if p.path == "" {
			continue
		}
		p.symbols = stringsOf(f["symbols"])
		p.goos = stringsOf(f["goos"])
		p.goarchs = stringsOf(f["goarch"])
		out = append(out, p)
	}
	return out
}

func stringsOf(v interface {
	GetListValue() *structpb.ListValue
}) []string {
	var out []string
	for _, s := range v.GetListValue().GetValues() {
		if s.GetStringValue() != "" {
			out = append(out, s.GetStringValue())
		}
	}
	return out
}
