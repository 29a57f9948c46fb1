package capabilities

import (
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/ssa"
)

// sink is a place where non-standard code exercises a capability.
type sink struct {
	pos    token.Pos
	callee string // the standard-library function, or what the code does
	// through are the frames between the function and the callee: the
	// dynamic call that used a value the function made.
	through []Frame
}

// dynamic reports whether a call graph edge is a call through an
// interface or a function value.
func dynamic(e *callgraph.Edge) bool {
	return e.Site != nil && e.Site.Common().StaticCallee() == nil
}

// maker is where non-standard code makes a value whose methods (or which,
// as a function value) a dynamic call may reach: a conversion to an
// interface, a bound method, a reference to a function.
type maker struct {
	fn  *ssa.Function
	pos token.Pos
}

// makers index the values non-standard code makes: by the named type
// whose methods they carry, and by the standard-library function they
// refer to.
type makers struct {
	types map[*types.TypeName][]maker
	funcs map[*ssa.Function][]maker
}

// typeKey is the named type (through a pointer) whose methods a value of
// type t carries, nil for other types.
func typeKey(t types.Type) *types.TypeName {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		t = types.Unalias(p.Elem())
	}
	if n, ok := t.(*types.Named); ok {
		if o := n.Origin(); o != nil {
			n = o
		}
		return n.Obj()
	}
	return nil
}

func (a *analysis) makers(fns map[*ssa.Function]bool) *makers {
	m := &makers{types: map[*types.TypeName][]maker{}, funcs: map[*ssa.Function][]maker{}}
	var ops []*ssa.Value
	for fn := range fns {
		if a.isStd(fn) || a.moduleOf(fn) == "" {
			continue
		}
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				switch v := instr.(type) {
				case *ssa.MakeInterface:
					if k := typeKey(v.X.Type()); k != nil && !heldDescriptor(v.X) {
						m.types[k] = append(m.types[k], maker{fn, v.Pos()})
					}
				case *ssa.MakeClosure:
					if f, ok := v.Fn.(*ssa.Function); ok && strings.HasPrefix(f.Synthetic, "bound method wrapper") && len(v.Bindings) > 0 {
						if k := typeKey(v.Bindings[0].Type()); k != nil {
							m.types[k] = append(m.types[k], maker{fn, v.Pos()})
						}
					}
				}
				var static ssa.Value
				if call, ok := instr.(ssa.CallInstruction); ok && call.Common().StaticCallee() != nil {
					static = call.Common().Value
				}
				for _, op := range instr.Operands(ops[:0]) {
					if f, ok := (*op).(*ssa.Function); ok && *op != static && a.isStd(f) {
						m.funcs[f] = append(m.funcs[f], maker{fn, instr.Pos()})
					}
				}
			}
		}
	}
	return m
}

// heldDescriptor reports a value read from os.Stdin, os.Stdout or
// os.Stderr: descriptors the process already holds are not capabilities.
func heldDescriptor(v ssa.Value) bool {
	load, ok := v.(*ssa.UnOp)
	if !ok {
		return false
	}
	g, ok := load.X.(*ssa.Global)
	return ok && g.Pkg != nil && g.Pkg.Pkg.Path() == "os" && (g.Name() == "Stdin" || g.Name() == "Stdout" || g.Name() == "Stderr")
}

// of returns the makers of the value a dynamic call reaching callee used.
func (m *makers) of(callee *ssa.Function) []maker {
	if recv := callee.Signature.Recv(); recv != nil {
		if k := typeKey(recv.Type()); k != nil {
			return m.types[k]
		}
		return nil
	}
	if callee.Parent() != nil {
		// A closure: made inside the standard library.
		return nil
	}
	return m.funcs[callee]
}

// sinks finds, per capability, the non-standard functions that exercise
// it directly: a static call into the standard library, unsafe pointer
// conversions, cgo, bodies not in Go. A dynamic call into the standard
// library exercises the capability of the value it calls, which is its
// maker's to declare: the non-standard functions that made such a value
// are charged, with the dynamic call in their path; when the standard
// library made it, the caller is charged INDIRECT.
func (a *analysis) sinks(cg *callgraph.Graph, fns map[*ssa.Function]bool) map[Capability]map[*ssa.Function]sink {
	sinks := map[Capability]map[*ssa.Function]sink{}
	addSink := func(c Capability, fn *ssa.Function, s sink) {
		if sinks[c] == nil {
			sinks[c] = map[*ssa.Function]sink{}
		}
		if old, ok := sinks[c][fn]; !ok || s.pos < old.pos {
			sinks[c][fn] = s
		}
	}
	var made *makers
	var up *ancestors
	for fn := range fns {
		if a.isStd(fn) || a.moduleOf(fn) == "" {
			continue
		}
		if fn.Blocks == nil && fn.Parent() == nil && fn.Pkg != nil && fn.Synthetic == "" {
			// A function without a body: assembly or go:linkname. The raw
			// system call entries of golang.org/x/sys are what they say.
			if rawSyscall(fn) {
				addSink(SystemCalls, fn, sink{pos: fn.Pos(), callee: "system call (assembly)"})
			} else {
				addSink(Unanalyzed, fn, sink{pos: fn.Pos(), callee: "body not in Go (assembly or linkname)"})
			}
		}
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if c, what, ok := unsafeUse(instr); ok {
					addSink(c, fn, sink{pos: instr.Pos(), callee: what})
				}
			}
		}
		if strings.HasPrefix(fn.Name(), "_Cfunc_") || strings.HasPrefix(fn.Name(), "_cgo") {
			addSink(CGo, fn, sink{pos: fn.Pos(), callee: "cgo"})
		}
		node := cg.Nodes[fn]
		if node == nil {
			continue
		}
		for _, e := range node.Out {
			callee := e.Callee.Func
			if !a.isStd(callee) {
				if strings.HasPrefix(callee.Name(), "_Cfunc_") {
					addSink(CGo, fn, sink{pos: e.Pos(), callee: name(callee)})
				}
				continue
			}
			if callee.Synthetic == "package initializer" {
				// Importing a package runs its init: not a use of it.
				continue
			}
			c, ok := Classify(pkgOf(callee).Path(), name(callee))
			if !ok {
				continue
			}
			if !dynamic(e) {
				addSink(c, fn, sink{pos: e.Pos(), callee: name(callee)})
				continue
			}
			if made == nil {
				made = a.makers(fns)
			}
			// A maker counts when it can hand the value down to the call:
			// the caller is the maker's function or reached from it.
			var makers []maker
			for _, mk := range made.of(callee) {
				if up == nil || up.fn != fn {
					up = &ancestors{fn: fn, set: a.ancestors(cg, fn)}
				}
				if up.set[mk.fn] {
					makers = append(makers, mk)
				}
			}
			if len(makers) == 0 {
				addSink(Indirect, fn, sink{pos: e.Pos(), callee: name(callee) + " (through a value the standard library made)"})
				continue
			}
			call := Frame{Function: name(fn), Module: a.moduleOf(fn), Pos: a.pos(e.Pos())}
			for _, mk := range makers {
				pos := mk.pos
				if !pos.IsValid() {
					// An implicit conversion: the function, at least.
					pos = mk.fn.Pos()
				}
				addSink(c, mk.fn, sink{pos: pos, callee: name(callee), through: []Frame{call}})
			}
		}
	}
	return sinks
}

// ancestors are the functions that can call fn, directly or not, and fn.
type ancestors struct {
	fn  *ssa.Function
	set map[*ssa.Function]bool
}

func (a *analysis) ancestors(cg *callgraph.Graph, fn *ssa.Function) map[*ssa.Function]bool {
	set := map[*ssa.Function]bool{fn: true}
	queue := []*ssa.Function{fn}
	for len(queue) > 0 {
		n := cg.Nodes[queue[0]]
		queue = queue[1:]
		if n == nil {
			continue
		}
		for _, e := range n.In {
			if c := e.Caller.Func; !set[c] {
				set[c] = true
				queue = append(queue, c)
			}
		}
	}
	return set
}
