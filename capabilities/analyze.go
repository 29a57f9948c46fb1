package capabilities

import (
	"context"
	"errors"
	"fmt"
	"go/token"
	"go/types"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/callgraph/cha"
	"golang.org/x/tools/go/callgraph/vta"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

// Options say what to analyse and how to build it.
type Options struct {
	// Dir is the directory the patterns are relative to (a module's root,
	// or a directory inside it).
	Dir string
	// Patterns are go list patterns; default "./...".
	Patterns []string
	// Env is the environment of the go command, as for exec.Cmd: nil is
	// the process's. GOOS and GOARCH below are added to it.
	Env []string
	// GOOS, GOARCH and Tags select the files that are built.
	GOOS, GOARCH string
	Tags         []string
	// All analyses every function of every loaded package, as if each
	// were called: the whole surface of every module. By default only what
	// the entry points reach is (see Program.Reach for which they are).
	All bool
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// PrepareModule readies opts.Dir, a module unpacked from its zip, to be
// analysed as the main module: a module from before go.mod gets the
// go.mod the go command would synthesize for it, and the go command may
// add the go.sum entries the zip lacks (checked against the checksum
// database, as GOSUMDB says).
func PrepareModule(opts *Options, modulePath string) error {
	gomod := filepath.Join(opts.Dir, "go.mod")
	if _, err := os.Stat(gomod); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(gomod, []byte("module "+modulePath+"\n"), 0o644); err != nil {
			return err
		}
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	opts.Env = append(opts.Env, "GOFLAGS=-mod=mod")
	return nil
}

// Result is what the code of each module can do.
type Result struct {
	// Main is the main module's path.
	Main    string    `json:"main"`
	GOOS    string    `json:"goos,omitempty"`
	GOARCH  string    `json:"goarch,omitempty"`
	Modules []*Module `json:"modules"`
}

// Module is one module and the capabilities its code reaches.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	Main    bool   `json:"main,omitempty"`
	// Capabilities are sorted by name.
	Capabilities []Found `json:"capabilities"`
}

// Found is a capability a module's code reaches.
type Found struct {
	Capability Capability `json:"capability"`
	// Direct is set when the module's own code calls the standard-library
	// function that exercises it.
	Direct bool `json:"direct"`
	// Via are the modules whose code makes the call, when the module
	// reaches the capability through them.
	Via []string `json:"via,omitempty"`
	// Path is one call path from the module's function to the
	// standard-library function, outermost first.
	Path []Frame `json:"path"`
}

// Frame is one step of a call path: a function and where it makes the
// next call.
type Frame struct {
	Function string `json:"function"`
	Module   string `json:"module,omitempty"`
	// Pos is file:line of the call, "" for the last (standard-library)
	// frame.
	Pos string `json:"pos,omitempty"`
}

// Capability returns what the module reaches of c, or nil.
func (m *Module) Capability(c Capability) *Found {
	for i := range m.Capabilities {
		if m.Capabilities[i].Capability == c {
			return &m.Capabilities[i]
		}
	}
	return nil
}

// Without returns a copy of the result without capability c.
func (r *Result) Without(c Capability) *Result {
	out := *r
	out.Modules = make([]*Module, len(r.Modules))
	for i, m := range r.Modules {
		cp := *m
		cp.Capabilities = make([]Found, 0, len(m.Capabilities))
		for _, f := range m.Capabilities {
			if f.Capability != c {
				cp.Capabilities = append(cp.Capabilities, f)
			}
		}
		out.Modules[i] = &cp
	}
	return &out
}

// Module returns the module with the path, or nil.
func (r *Result) Module(path string) *Module {
	for _, m := range r.Modules {
		if m.Path == path {
			return m
		}
	}
	return nil
}

// ErrLoad marks code that could not be loaded (syntax or type errors,
// missing modules).
var ErrLoad = errors.New("loading the Go packages")

// ErrNoPackages marks patterns that match no Go package: a go.mod with no
// code beside it.
var ErrNoPackages = fmt.Errorf("%w: no Go packages", ErrLoad)

// Program is Go code loaded and analysed once: its packages in SSA form
// and a VTA call graph of all their functions, which both the
// capabilities (Capabilities) and the reachability of vulnerable
// functions (Reach) are read from.
type Program struct {
	a   *analysis
	cg  *callgraph.Graph
	fns map[*ssa.Function]bool
	// top are the packages the patterns matched; initial their go/packages
	// form.
	top     []*ssa.Package
	initial []*packages.Package
	goos    string
	goarch  string
	// reach is what the entry points reach, walked once (Reach).
	reachOnce sync.Once
	reach     *Reach
	reachErr  error
}

// Analyze loads the packages, builds their SSA form and a VTA call graph,
// and charges every capability that non-standard code reaches in the
// standard library to the module whose code makes the call, and
// transitively to the modules that call that code.
func Analyze(ctx context.Context, opts Options) (*Result, error) {
	p, err := Load(ctx, opts)
	if err != nil {
		return nil, err
	}
	return p.Capabilities(ctx)
}

// Capabilities charges every capability that non-standard code reaches
// in the standard library to the module whose code makes the call, and
// transitively to the modules that call that code.
//
// Each capability's path starts at an entry point: a shortest call path
// to the module's function nearest the capability, then on to it.
func (p *Program) Capabilities(ctx context.Context) (*Result, error) {
	res := p.a.charge(ctx, p.cg, p.fns)
	res.GOOS, res.GOARCH = p.goos, p.goarch
	r, err := p.Reach(ctx)
	if err != nil {
		return nil, err
	}
	first := make(map[string]int, len(r.Functions))
	for i := len(r.Functions) - 1; i >= 0; i-- {
		first[r.Functions[i].Function] = i
	}
	for _, m := range res.Modules {
		for i := range m.Capabilities {
			f := &m.Capabilities[i]
			if len(f.Path) == 0 {
				continue
			}
			if at, ok := first[f.Path[0].Function]; ok {
				lead := r.pathTo(at)
				f.Path = append(lead[:len(lead)-1], f.Path...)
			}
		}
	}
	return res, ctx.Err()
}

// Load loads the packages, builds their SSA form and a VTA call graph.
func Load(ctx context.Context, opts Options) (*Program, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	patterns := opts.Patterns
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	env := opts.Env
	if env != nil || opts.GOOS != "" || opts.GOARCH != "" {
		if opts.Env == nil {
			env = os.Environ()
		}
		env = append([]string(nil), env...)
		if opts.GOOS != "" {
			env = append(env, "GOOS="+opts.GOOS)
		}
		if opts.GOARCH != "" {
			env = append(env, "GOARCH="+opts.GOARCH)
		}
	}
	cfg := &packages.Config{
		Context: ctx,
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles | packages.NeedImports |
			packages.NeedDeps | packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo |
			packages.NeedTypesSizes | packages.NeedModule,
		Dir: opts.Dir,
		Env: env,
	}
	if len(opts.Tags) > 0 {
		cfg.BuildFlags = []string{"-tags=" + strings.Join(opts.Tags, ",")}
	}
	log.Info("loading packages", "dir", opts.Dir, "patterns", patterns)
	initial, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	if len(initial) == 0 {
		return nil, fmt.Errorf("%w: %s matches none in %s", ErrNoPackages, strings.Join(patterns, " "), opts.Dir)
	}
	var loadErrs []string
	packages.Visit(initial, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			loadErrs = append(loadErrs, e.Error())
		}
	})
	if len(loadErrs) > 0 {
		if len(loadErrs) > 10 {
			loadErrs = append(loadErrs[:10], fmt.Sprintf("and %d more", len(loadErrs)-10))
		}
		return nil, fmt.Errorf("%w:\n  %s", ErrLoad, strings.Join(loadErrs, "\n  "))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	a := &analysis{dirs: []string{opts.Dir}, modules: map[string]*packages.Module{}, std: map[string]bool{}}
	packages.Visit(initial, nil, func(p *packages.Package) {
		if p.Module != nil {
			a.modules[p.PkgPath] = p.Module
			if p.Module.Dir != "" && !slices.Contains(a.dirs, p.Module.Dir) {
				a.dirs = append(a.dirs, p.Module.Dir)
			}
			if p.Module.Main && a.main == "" {
				a.main = p.Module.Path
			}
		} else if isStd(p) {
			a.std[p.PkgPath] = true
		}
	})
	log.Info("building SSA")
	prog, top := ssautil.AllPackages(initial, ssa.InstantiateGenerics)
	prog.Build()
	a.fset = prog.Fset
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &Program{a: a, top: top, initial: initial, goos: opts.GOOS, goarch: opts.GOARCH}
	base := cha.CallGraph(prog)
	if opts.All {
		log.Info("building the call graph of every function")
		p.fns = ssautil.AllFunctions(prog)
		p.cg = vta.CallGraph(p.fns, base)
	} else {
		// As govulncheck builds it: VTA over what the entry points reach
		// by CHA, then again over what they reach by that; values flow
		// only from code that can run.
		roots := map[*ssa.Function]bool{}
		for _, fn := range p.entries() {
			roots[fn] = true
		}
		log.Info("building the call graph from the entry points", "entry points", len(roots))
		p.fns = forwardSlice(roots, base)
		first := vta.CallGraph(p.fns, base)
		p.fns = forwardSlice(roots, first)
		p.cg = vta.CallGraph(p.fns, first)
	}
	p.cg.DeleteSyntheticNodes()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log.Info("call graph built", "functions", len(p.cg.Nodes))
	return p, nil
}

// isStd tells standard-library packages (no module, no dot in the first
// path element) from the rest.
func isStd(p *packages.Package) bool {
	first, _, _ := strings.Cut(p.PkgPath, "/")
	return !strings.Contains(first, ".") && p.Module == nil
}

type analysis struct {
	// dirs are the module roots and the analysed directory, which
	// positions are shown relative to.
	dirs    []string
	fset    *token.FileSet
	main    string
	modules map[string]*packages.Module // package path → module
	std     map[string]bool
	// shown are file names as display shows them.
	shown map[string]string
}

// moduleOf is the module of a function's code, "" for the standard
// library (and for code of no known module).
func (a *analysis) moduleOf(fn *ssa.Function) string {
	pkg := pkgOf(fn)
	if pkg == nil {
		return ""
	}
	if m := a.modules[pkg.Path()]; m != nil {
		return m.Path
	}
	return ""
}

func (a *analysis) isStd(fn *ssa.Function) bool {
	pkg := pkgOf(fn)
	return pkg != nil && a.std[pkg.Path()]
}

func pkgOf(fn *ssa.Function) *types.Package {
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if fn.Pkg != nil {
		return fn.Pkg.Pkg
	}
	if obj := fn.Object(); obj != nil {
		return obj.Pkg()
	}
	return nil
}

// name is how a function is shown and looked up: its go/ssa name, of the
// generic origin.
func name(fn *ssa.Function) string {
	if o := fn.Origin(); o != nil {
		fn = o
	}
	return fn.String()
}

func (a *analysis) pos(p token.Pos) string {
	if !p.IsValid() {
		return ""
	}
	pos := a.fset.Position(p)
	return fmt.Sprintf("%s:%d", a.display(pos.Filename), pos.Line)
}

// display shortens a file name: relative to the directory of the module
// that holds it, or to the analysed directory.
func (a *analysis) display(file string) string {
	if d, ok := a.shown[file]; ok {
		return d
	}
	if a.shown == nil {
		a.shown = map[string]string{}
	}
	d := a.relative(file)
	a.shown[file] = d
	return d
}

func (a *analysis) relative(file string) string {
	best := ""
	for _, dir := range a.dirs {
		if dir == "" || len(dir) <= len(best) {
			continue
		}
		if r, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(r, "..") {
			best = dir
		}
	}
	if best == "" {
		return file
	}
	r, _ := filepath.Rel(best, file)
	return r
}

// charge finds, per capability, the non-standard functions that exercise
// it directly (sinks), then walks the call graph backwards from them over
// non-standard code and static calls, so that every function that reaches
// a sink knows the next call on a shortest path to it. A dynamic call
// (through an interface or a function value) does not make its caller
// reach what the value does: the value's maker does (sinks.go).
func (a *analysis) charge(ctx context.Context, cg *callgraph.Graph, fns map[*ssa.Function]bool) *Result {
	sinks := a.sinks(cg, fns)
	byModule := map[string]map[Capability]*Found{}
	for c, direct := range sinks {
		if ctx.Err() != nil {
			break
		}
		// next[f] is the edge from f towards the nearest sink (nil for a
		// sink), dist[f] the number of calls to it, owner[f] the module
		// of that sink.
		next := map[*ssa.Function]*callgraph.Edge{}
		dist := map[*ssa.Function]int{}
		owner := map[*ssa.Function]string{}
		var queue []*ssa.Function
		for fn := range direct {
			next[fn], dist[fn], owner[fn] = nil, 0, a.moduleOf(fn)
			queue = append(queue, fn)
		}
		sort.Slice(queue, func(i, j int) bool { return name(queue[i]) < name(queue[j]) })
		for len(queue) > 0 {
			fn := queue[0]
			queue = queue[1:]
			node := cg.Nodes[fn]
			if node == nil {
				continue
			}
			for _, e := range node.In {
				caller := e.Caller.Func
				if _, seen := next[caller]; seen || a.isStd(caller) || a.moduleOf(caller) == "" || dynamic(e) {
					continue
				}
				next[caller], dist[caller], owner[caller] = e, dist[fn]+1, owner[fn]
				queue = append(queue, caller)
			}
		}
		// One example per module: from its function closest to a sink,
		// which is its own call when it makes one (distance 0).
		examples := map[string]*ssa.Function{}
		via := map[string]map[string]bool{}
		for fn := range next {
			m := a.moduleOf(fn)
			if owner[fn] != m {
				if via[m] == nil {
					via[m] = map[string]bool{}
				}
				via[m][owner[fn]] = true
			}
			if b, ok := examples[m]; !ok || dist[fn] < dist[b] || (dist[fn] == dist[b] && name(fn) < name(b)) {
				examples[m] = fn
			}
		}
		for m, b := range examples {
			f := &Found{Capability: c, Direct: dist[b] == 0}
			for v := range via[m] {
				f.Via = append(f.Via, v)
			}
			sort.Strings(f.Via)
			for fn := b; ; fn = next[fn].Callee.Func {
				e := next[fn]
				if e == nil {
					s := direct[fn]
					f.Path = append(f.Path, Frame{Function: name(fn), Module: a.moduleOf(fn), Pos: a.pos(s.pos)})
					f.Path = append(append(f.Path, s.through...), Frame{Function: s.callee})
					break
				}
				f.Path = append(f.Path, Frame{Function: name(fn), Module: a.moduleOf(fn), Pos: a.pos(e.Pos())})
			}
			if byModule[m] == nil {
				byModule[m] = map[Capability]*Found{}
			}
			byModule[m][c] = f
		}
	}

	res := &Result{Main: a.main}
	versions := map[string]*packages.Module{}
	for _, m := range a.modules {
		versions[m.Path] = m
	}
	for path, mod := range versions {
		m := &Module{Path: path, Version: mod.Version, Main: mod.Main, Capabilities: []Found{}}
		if mod.Replace != nil && mod.Replace.Version != "" {
			m.Version = mod.Replace.Version
		}
		for _, f := range byModule[path] {
			m.Capabilities = append(m.Capabilities, *f)
		}
		sort.Slice(m.Capabilities, func(i, j int) bool { return m.Capabilities[i].Capability < m.Capabilities[j].Capability })
		res.Modules = append(res.Modules, m)
	}
	sort.Slice(res.Modules, func(i, j int) bool {
		if res.Modules[i].Main != res.Modules[j].Main {
			return res.Modules[i].Main
		}
		return res.Modules[i].Path < res.Modules[j].Path
	})
	return res
}

// rawSyscall reports the assembly system call entries of
// golang.org/x/sys/unix (Syscall, Syscall6, RawSyscall, RawSyscallNoError...).
func rawSyscall(fn *ssa.Function) bool {
	pkg := pkgOf(fn)
	if pkg == nil || !strings.HasPrefix(pkg.Path(), "golang.org/x/sys/") {
		return false
	}
	return strings.HasPrefix(fn.Name(), "Syscall") || strings.HasPrefix(fn.Name(), "RawSyscall")
}

// unsafeUse reports an instruction that converts to or from
// unsafe.Pointer, which is what UNSAFE_POINTER means.
func unsafeUse(instr ssa.Instruction) (Capability, string, bool) {
	var from, to types.Type
	switch v := instr.(type) {
	case *ssa.Convert:
		from, to = v.X.Type(), v.Type()
	case *ssa.ChangeType:
		from, to = v.X.Type(), v.Type()
	default:
		return "", "", false
	}
	if isUnsafePointer(from) || isUnsafePointer(to) {
		return UnsafePointer, fmt.Sprintf("conversion %s → %s", types.TypeString(from, nil), types.TypeString(to, nil)), true
	}
	return "", "", false
}

func isUnsafePointer(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Kind() == types.UnsafePointer
}
