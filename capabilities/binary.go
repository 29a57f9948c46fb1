package capabilities

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/customs-dev/customs/internal/goexe"
	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// ErrNotGoBinary marks a file that is not a Go executable customs can read.
var ErrNotGoBinary = errors.New("not a Go ELF executable")

// maxBinarySize bounds the executables AnalyzeBinary reads.
const maxBinarySize = 1 << 30

// AnalyzeBinary finds what each module's own code in a compiled Go
// executable calls in the standard library, without its source: the
// linker kept only the functions the program can reach, the pclntab names
// each (stripped binaries keep it), the build info maps packages to
// modules, and every direct call instruction of a module's function into
// a standard-library function is classified as the static analysis
// classifies calls. It reports direct capabilities only (what Check
// holds against a declaration).
//
// It sees direct calls. Calls through interfaces and function values,
// standard-library functions the compiler inlined into a module's code
// (the call that remains is the one they make) and unsafe.Pointer
// conversions are not seen: where it matters, analyse the source.
// x86-64 and arm64 executables are read.
func AnalyzeBinary(r io.ReaderAt) (*Result, error) {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotGoBinary, err)
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotGoBinary, err)
	}
	var decode func(code []byte, pc uint64) (size int, target uint64, call bool)
	switch ef.Machine {
	case elf.EM_X86_64:
		decode = decodeX86
	case elf.EM_AARCH64:
		decode = decodeARM64
	default:
		return nil, fmt.Errorf("%w: %s executables are not read (x86-64 and arm64 are)", ErrNotGoBinary, ef.Machine)
	}
	pcln, text := ef.Section(".gopclntab"), ef.Section(".text")
	if pcln == nil || text == nil {
		return nil, fmt.Errorf("%w: no .gopclntab or .text section", ErrNotGoBinary)
	}
	if pcln.Size > maxBinarySize || text.Size > maxBinarySize {
		return nil, fmt.Errorf("%w: sections larger than %d bytes", ErrNotGoBinary, maxBinarySize)
	}
	table, err := readTable(ef, pcln, text)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the pclntab: %v", ErrNotGoBinary, err)
	}
	code, err := goexe.Section(text)
	if err != nil {
		return nil, fmt.Errorf("%w: reading .text: %v", ErrNotGoBinary, err)
	}

	res := &Result{Main: bi.Main.Path}
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			res.GOOS = s.Value
		case "GOARCH":
			res.GOARCH = s.Value
		}
	}
	mods := map[string]*Module{}
	paths := []string{}
	add := func(path, version string, main bool) {
		if path == "" || mods[path] != nil {
			return
		}
		mods[path] = &Module{Path: path, Version: version, Main: main, Capabilities: []Found{}}
		paths = append(paths, path)
	}
	add(bi.Main.Path, bi.Main.Version, true)
	for _, d := range bi.Deps {
		add(d.Path, d.Version, false)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	moduleOf := func(sym string) string {
		if strings.HasPrefix(sym, "type:") || strings.HasPrefix(sym, "go:") {
			return ""
		}
		pkg := SymbolPackage(sym)
		if pkg == "main" {
			return bi.Main.Path
		}
		for _, m := range paths {
			if pkg == m || strings.HasPrefix(pkg, m+"/") {
				return m
			}
		}
		return ""
	}

	funcs := table.Funcs
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Entry < funcs[j].Entry })
	funcAt := func(pc uint64) *gosym.Func {
		i := sort.Search(len(funcs), func(i int) bool { return funcs[i].End > pc })
		if i < len(funcs) && funcs[i].Entry <= pc {
			return &funcs[i]
		}
		return nil
	}
	// Decoding is most of the work: spread the functions over the cores,
	// then keep, per module and capability, the first call site in address
	// order, so that the result does not depend on scheduling.
	type site struct {
		fn     int
		pc     uint64
		callee string
		c      Capability
	}
	workers := runtime.GOMAXPROCS(0)
	sites := make([][]site, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(funcs); i += workers {
				f := &funcs[i]
				if moduleOf(f.Name) == "" || f.Entry < text.Addr || f.End > text.Addr+uint64(len(code)) {
					continue
				}
				for pc := f.Entry; pc < f.End; {
					size, target, call := decode(code[pc-text.Addr:f.End-text.Addr], pc)
					if size <= 0 {
						size = 1
					}
					if call {
						if callee := funcAt(target); callee != nil && callee.Entry == target && moduleOf(callee.Name) == "" {
							if c, ok := classifyCallee(callee.Name); ok {
								sites[w] = append(sites[w], site{i, pc, callee.Name, c})
							}
						}
					}
					pc += uint64(size)
				}
			}
		})
	}
	wg.Wait()
	var all []site
	for _, ss := range sites {
		all = append(all, ss...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].pc < all[j].pc })
	for _, st := range all {
		f := &funcs[st.fn]
		mod := moduleOf(f.Name)
		found(mods[mod], st.c, f.Name, mod, table, st.pc, st.callee)
	}
	sort.Strings(paths)
	for _, p := range paths {
		m := mods[p]
		sort.Slice(m.Capabilities, func(i, j int) bool { return m.Capabilities[i].Capability < m.Capabilities[j].Capability })
		res.Modules = append(res.Modules, m)
	}
	return res, nil
}

// classifyCallee classifies a call instruction's target. A module's code
// can only call exported standard-library functions and methods; calls to
// unexported ones are the compiler's (runtime.makechan for make(chan),
// runtime.panicIndex for a bounds check, write barriers) or come from
// standard-library code inlined into the module's, and are not the
// module's doing. runtime.cgocall, which a cgo call compiles to, is CGO.
func classifyCallee(sym string) (Capability, bool) {
	if sym == "runtime.cgocall" {
		return CGo, true
	}
	pkg, name := SymbolName(sym)
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" || last[0] < 'A' || last[0] > 'Z' {
		return "", false
	}
	return Classify(pkg, name)
}

// found records a direct capability with its first call site.
func found(m *Module, c Capability, fn, mod string, table *gosym.Table, pc uint64, callee string) {
	if m.Capability(c) != nil {
		return
	}
	file, line, _ := table.PCToLine(pc)
	_, name := SymbolName(callee)
	m.Capabilities = append(m.Capabilities, Found{Capability: c, Direct: true, Path: []Frame{
		{Function: fn, Module: mod, Pos: fmt.Sprintf("%s:%d", file, line)},
		{Function: name},
	}})
}

func readTable(ef *elf.File, pcln, text *elf.Section) (t *gosym.Table, err error) {
	data, err := goexe.Section(pcln)
	if err != nil {
		return nil, err
	}
	start := TextStart(ef, text, data)
	// debug/gosym trusts the table it reads; a malformed one must not take
	// the caller down.
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("malformed pclntab: %v", r)
		}
	}()
	return gosym.NewTable(nil, gosym.NewLineTable(data, start))
}

// TextStart is the address the pclntab's function offsets count from:
// runtime.text, which is not always where .text starts (an external
// linker puts C code first). It is the runtime.text symbol when the
// binary has a symbol table; else the address the Go 1.18+ pclntab header
// records; else, when an external linker left that zero, the text field
// of the runtime's moduledata (goexe.ModuledataWord, through the
// relocations of a position-independent executable); else the start of
// .text.
func TextStart(ef *elf.File, text *elf.Section, pclntab []byte) uint64 {
	if syms, err := ef.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" {
				return s.Value
			}
		}
	}
	// The header: magic (4), two pad bytes, minLC, ptrSize, nfunc, nfiles,
	// textStart (pointer-sized words).
	if len(pclntab) >= 8 && pclntab[7] == 8 && len(pclntab) >= 8+3*8 {
		magic := binary.LittleEndian.Uint32(pclntab)
		if magic == 0xfffffff0 || magic == 0xfffffff1 { // Go 1.18, Go 1.20
			if v := binary.LittleEndian.Uint64(pclntab[8+2*8:]); v >= text.Addr && v < text.Addr+text.Size {
				return v
			}
		}
	}
	inText := func(v uint64) bool { return v >= text.Addr && v < text.Addr+text.Size }
	if v := goexe.ModuledataWord(ef, goexe.ModuledataText, inText); v != 0 {
		return v
	}
	return text.Addr
}

// decodeX86 decodes one x86-64 instruction: its size and, for a direct
// CALL or JMP, its target.
func decodeX86(code []byte, pc uint64) (int, uint64, bool) {
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		return 1, 0, false
	}
	if inst.Op != x86asm.CALL && inst.Op != x86asm.JMP {
		return inst.Len, 0, false
	}
	rel, ok := inst.Args[0].(x86asm.Rel)
	if !ok {
		return inst.Len, 0, false
	}
	return inst.Len, uint64(int64(pc) + int64(inst.Len) + int64(rel)), true
}

// decodeARM64 decodes one arm64 instruction: for BL and B, its target.
func decodeARM64(code []byte, pc uint64) (int, uint64, bool) {
	if len(code) < 4 {
		return 4, 0, false
	}
	inst, err := arm64asm.Decode(code)
	if err != nil || (inst.Op != arm64asm.BL && inst.Op != arm64asm.B) {
		return 4, 0, false
	}
	rel, ok := inst.Args[0].(arm64asm.PCRel)
	if !ok {
		return 4, 0, false
	}
	return 4, uint64(int64(pc) + int64(rel)), true
}
