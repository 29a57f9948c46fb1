package capabilities

import (
	"cmp"
	"context"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/types/typeutil"
)

// Reach is what a program's entry points reach: the packages they import
// and every function they can call, each with the call that reaches it on
// a shortest path from an entry point. It is what the reachability of Go
// vulnerabilities in source is graded from (vuln/reach).
type Reach struct {
	// Imported are the analysed packages and every package they import,
	// directly or not, sorted.
	Imported []string `json:"imported"`
	// Modules are the modules that provide those packages (a replaced one
	// under both paths), sorted.
	Modules []string `json:"modules"`
	// Functions are the functions reached, in the order a breadth-first
	// walk from the entry points meets them: an earlier one is no farther.
	Functions []Reached `json:"functions"`
}

// Reached is a function the entry points reach.
type Reached struct {
	Package string `json:"pkg"`
	// Symbol is its name as the Go vulnerability database names it:
	// "Get", "T.M" (of a pointer receiver too, without type arguments).
	Symbol string `json:"sym"`
	// Function is its go/ssa name, as call paths show it.
	Function string `json:"fn"`
	Module   string `json:"mod,omitempty"`
	// Caller is the index of the function that calls it on a shortest
	// path from an entry point, -1 for an entry point; Pos is file:line of
	// that call.
	Caller int    `json:"caller"`
	Pos    string `json:"pos,omitempty"`
}

// Symbols returns the functions reached in each imported package, by
// their database names; every imported package is present, with an empty
// set when none of its functions is reached.
func (r *Reach) Symbols() map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(r.Imported))
	for _, p := range r.Imported {
		out[p] = map[string]bool{}
	}
	for _, f := range r.Functions {
		if out[f.Package] == nil {
			out[f.Package] = map[string]bool{}
		}
		out[f.Package][f.Symbol] = true
	}
	return out
}

// Path returns a shortest call path from an entry point to a reached
// function of a package (any of them when symbols is empty), outermost
// first, as Frames: each with the position of the call it makes, the last
// (the function) with none. It returns nil when none is reached.
func (r *Reach) Path(pkg string, symbols []string) []Frame {
	at := slices.IndexFunc(r.Functions, func(f Reached) bool {
		return f.Package == pkg && (len(symbols) == 0 || slices.Contains(symbols, f.Symbol))
	})
	if at < 0 {
		return nil
	}
	return r.pathTo(at)
}

// pathTo is the shortest call path from an entry point to the function at
// an index of Functions.
func (r *Reach) pathTo(at int) []Frame {
	path := []Frame{{Function: r.Functions[at].Function, Module: r.Functions[at].Module}}
	for n := 0; r.Functions[at].Caller >= 0 && n < len(r.Functions); n++ {
		pos := r.Functions[at].Pos
		at = r.Functions[at].Caller
		path = append(path, Frame{Function: r.Functions[at].Function, Module: r.Functions[at].Module, Pos: pos})
	}
	slices.Reverse(path)
	return path
}

// Reach walks the call graph from the program's entry points, as
// govulncheck's source mode chooses them: the main and init functions of
// main packages, and the exported functions and methods and init of the
// others (a library's API).
func (p *Program) Reach(ctx context.Context) (*Reach, error) {
	p.reachOnce.Do(func() { p.reach, p.reachErr = p.walk(ctx) })
	return p.reach, p.reachErr
}

// walk is Reach's breadth-first walk.
func (p *Program) walk(ctx context.Context) (*Reach, error) {
	r := &Reach{}
	packages.Visit(p.initial, nil, func(pkg *packages.Package) {
		r.Imported = append(r.Imported, pkg.PkgPath)
		if m := pkg.Module; m != nil {
			r.Modules = append(r.Modules, m.Path)
			if m.Replace != nil {
				r.Modules = append(r.Modules, m.Replace.Path)
			}
		}
	})
	slices.Sort(r.Imported)
	r.Imported = slices.Compact(r.Imported)
	slices.Sort(r.Modules)
	r.Modules = slices.Compact(r.Modules)

	index := map[*ssa.Function]int{}
	names := map[*ssa.Function]string{}
	named := func(fn *ssa.Function) string {
		n, ok := names[fn]
		if !ok {
			n = name(fn)
			names[fn] = n
		}
		return n
	}
	var queue []*callgraph.Node
	visit := func(fn *ssa.Function, caller int, site *callgraph.Edge) {
		node := p.cg.Nodes[fn]
		if node == nil {
			return
		}
		if _, seen := index[fn]; seen {
			return
		}
		pkg := pkgOf(fn)
		if pkg == nil {
			return
		}
		pos := ""
		if site != nil {
			pos = p.a.pos(site.Pos())
		}
		index[fn] = len(r.Functions)
		r.Functions = append(r.Functions, Reached{
			Package: pkg.Path(), Symbol: dbName(fn), Function: named(fn),
			Module: p.a.moduleOf(fn), Caller: caller, Pos: pos,
		})
		queue = append(queue, node)
	}
	entries := p.entries()
	slices.SortFunc(entries, func(a, b *ssa.Function) int { return cmp.Compare(name(a), name(b)) })
	for _, fn := range entries {
		visit(fn, -1, nil)
	}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		node := queue[0]
		queue = queue[1:]
		caller := index[node.Func]
		out := slices.Clone(node.Out)
		slices.SortFunc(out, func(a, b *callgraph.Edge) int {
			if c := cmp.Compare(a.Pos(), b.Pos()); c != 0 {
				return c
			}
			// A dynamic call with several callees: by name, which is
			// costly, so only then.
			return cmp.Compare(named(a.Callee.Func), named(b.Callee.Func))
		})
		for _, e := range out {
			visit(e.Callee.Func, caller, e)
		}
	}
	return r, nil
}

// entries are govulncheck's entry points of the analysed packages.
func (p *Program) entries() []*ssa.Function {
	var out []*ssa.Function
	for _, pkg := range p.top {
		if pkg == nil {
			continue
		}
		for memberName, m := range pkg.Members {
			for _, fn := range memberFuncs(m, pkg.Prog) {
				switch {
				case pkg.Pkg.Name() == "main":
					if memberName == "main" || memberName == "init" || strings.HasPrefix(memberName, "init#") {
						out = append(out, fn)
					}
				case fn.Name() == "init" && fn.Synthetic == "package initializer",
					fn.Synthetic == "" && fn.Object() != nil && fn.Object().Exported():
					out = append(out, fn)
				}
			}
		}
	}
	return out
}

// forwardSlice is every function the roots reach in a call graph, or
// refer to as a value (which may be called later), as govulncheck slices.
func forwardSlice(roots map[*ssa.Function]bool, cg *callgraph.Graph) map[*ssa.Function]bool {
	seen := map[*ssa.Function]bool{}
	var stack []*ssa.Function
	push := func(fn *ssa.Function) {
		if !seen[fn] {
			seen[fn] = true
			stack = append(stack, fn)
		}
	}
	for fn := range roots {
		push(fn)
	}
	var ops []*ssa.Value
	for len(stack) > 0 {
		fn := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n := cg.Nodes[fn]; n != nil {
			for _, e := range n.Out {
				if e.Site != nil {
					push(e.Callee.Func)
				}
			}
		}
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				for _, op := range instr.Operands(ops[:0]) {
					if f, ok := (*op).(*ssa.Function); ok {
						push(f)
					}
				}
			}
		}
	}
	return seen
}

// memberFuncs are the functions of a package member: a function, or the
// methods of a type.
func memberFuncs(m ssa.Member, prog *ssa.Program) []*ssa.Function {
	switch t := m.(type) {
	case *ssa.Function:
		return []*ssa.Function{t}
	case *ssa.Type:
		var out []*ssa.Function
		for _, sel := range typeutil.IntuitiveMethodSet(t.Type(), &prog.MethodSets) {
			if fn := prog.MethodValue(sel); fn != nil {
				out = append(out, fn)
			}
		}
		return out
	}
	return nil
}

// dbName names a function as the Go vulnerability database does: "F",
// "T.M" for a method of T or *T (and for the bound method and thunk
// wrappers of one), without type arguments.
func dbName(fn *ssa.Function) string {
	fname, _, _ := strings.Cut(fn.Name(), "[")
	var recv types.Type
	switch {
	case fn.Signature.Recv() != nil:
		recv = fn.Signature.Recv().Type()
	case len(fn.FreeVars) == 1 && strings.HasPrefix(fn.Synthetic, "bound "):
		recv = fn.FreeVars[0].Type()
	case strings.HasPrefix(fn.Synthetic, "thunk ") && fn.Signature.Params().Len() >= 1:
		recv = fn.Signature.Params().At(0).Type()
	}
	if recv == nil {
		return fname
	}
	return typeName(recv) + "." + fname
}

func typeName(t types.Type) string {
	switch t := types.Unalias(t).(type) {
	case *types.Pointer:
		return typeName(t.Elem())
	case *types.Named:
		return t.Obj().Name()
	}
	return types.TypeString(t, func(*types.Package) string { return "" })
}
