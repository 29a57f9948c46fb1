package capabilities

import (
	"regexp"
	"strings"
)

// SymbolPackage is the import path of a Go symbol as the runtime and the
// pclntab name it: "example.com/m/p.(*T).M" is in "example.com/m/p".
func SymbolPackage(sym string) string {
	slash := strings.LastIndexByte(sym, '/')
	if i := strings.IndexByte(sym[slash+1:], '.'); i >= 0 {
		return sym[:slash+1+i]
	}
	return sym
}

var closureSuffix = regexp.MustCompile(`(\.func\d+|\.gowrap\d+|\.deferwrap\d+)+$|\[.*\]`)

// SymbolName turns a Go symbol into its package and the go/ssa name the
// classification uses: "os.(*File).Write" → "os", "(*os.File).Write".
// Closures are named as their function, generic instances as the generic.
func SymbolName(sym string) (pkg, name string) {
	pkg = SymbolPackage(sym)
	rest := closureSuffix.ReplaceAllString(strings.TrimPrefix(sym, pkg+"."), "")
	switch {
	case strings.HasPrefix(rest, "(*"):
		return pkg, "(*" + pkg + "." + rest[2:]
	case strings.Contains(rest, "."):
		t, m, _ := strings.Cut(rest, ".")
		return pkg, "(" + pkg + "." + t + ")." + m
	}
	return pkg, pkg + "." + rest
}

// ClassifySymbol classifies a call into the standard-library function a
// Go symbol names.
func ClassifySymbol(sym string) (Capability, bool) {
	return Classify(SymbolName(sym))
}
