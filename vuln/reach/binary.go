package reach

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/customs-dev/customs/internal/goexe"
)

// ErrNotGoBinary marks a file that is not a Go executable reachability
// can read.
var ErrNotGoBinary = errors.New("not a Go ELF executable")

// Binary is what reachability needs of a Go executable: what it was built
// with and the functions its code holds.
type Binary struct {
	// Path is the main package's import path; Main its module.
	Path, Main string
	// GoVersion is the Go release that built it ("go1.26.0").
	GoVersion    string
	GOOS, GOARCH string
	// Symbols are the functions of each package the executable holds,
	// named as the Go vulnerability database names them ("Get", "T.M"):
	// those the linker kept and those inlined into them. nil when the
	// executable's function table could not be read.
	Symbols map[string]map[string]bool
	// Inlined reports whether the inlined functions were read too; without
	// them a function the compiler inlined everywhere is not seen.
	Inlined bool
}

// binaryJSON is how a Binary is cached: each package's functions as one
// string, which encodes and decodes several times faster than a set.
type binaryJSON struct {
	Path, Main, GoVersion, GOOS, GOARCH string
	// Symbols are each package's function names, newline-separated; nil
	// when the function table could not be read.
	Symbols map[string]string `json:",omitempty"`
	Inlined bool              `json:",omitempty"`
}

// MarshalJSON writes the compact form.
func (b *Binary) MarshalJSON() ([]byte, error) {
	j := binaryJSON{Path: b.Path, Main: b.Main, GoVersion: b.GoVersion, GOOS: b.GOOS, GOARCH: b.GOARCH, Inlined: b.Inlined}
	if b.Symbols != nil {
		j.Symbols = make(map[string]string, len(b.Symbols))
		var sb strings.Builder
		for pkg, syms := range b.Symbols {
			sb.Reset()
			for sym := range syms {
				if sb.Len() > 0 {
					sb.WriteByte('\n')
				}
				sb.WriteString(sym)
			}
			j.Symbols[pkg] = sb.String()
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the compact form.
func (b *Binary) UnmarshalJSON(data []byte) error {
	var j binaryJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = Binary{Path: j.Path, Main: j.Main, GoVersion: j.GoVersion, GOOS: j.GOOS, GOARCH: j.GOARCH, Inlined: j.Inlined}
	if j.Symbols != nil {
		b.Symbols = make(map[string]map[string]bool, len(j.Symbols))
		for pkg, list := range j.Symbols {
			set := map[string]bool{}
			for sym := range strings.SplitSeq(list, "\n") {
				if sym != "" {
					set[sym] = true
				}
			}
			b.Symbols[pkg] = set
		}
	}
	return nil
}

// ReadBinary reads a Go executable (ELF, x86-64 or arm64, stripped or not,
// position-independent or not).
func ReadBinary(r io.ReaderAt) (*Binary, error) {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotGoBinary, err)
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotGoBinary, err)
	}
	b := &Binary{Path: bi.Path, Main: bi.Main.Path, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			b.GOOS = s.Value
		case "GOARCH":
			b.GOARCH = s.Value
		}
	}
	pcln := ef.Section(".gopclntab")
	if pcln == nil {
		// The function table is in .data.rel.ro of some PIE and externally
		// linked executables: found by its header's magic.
		return b, nil
	}
	tab, err := goexe.Section(pcln)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the pclntab: %v", ErrNotGoBinary, err)
	}
	syms, inlined, err := functions(ef, tab)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotGoBinary, err)
	}
	b.Symbols, b.Inlined = map[string]map[string]bool{}, inlined
	seen := make(map[string]bool, len(syms))
	for _, name := range syms {
		// A function inlined in many places is named once each.
		if seen[name] {
			continue
		}
		seen[name] = true
		pkg, sym := parseName(name)
		if pkg == "main" && b.Path != "" {
			// The database names a main package by its path.
			pkg = b.Path
		}
		if b.Symbols[pkg] == nil {
			b.Symbols[pkg] = map[string]bool{}
		}
		b.Symbols[pkg][sym] = true
	}
	return b, nil
}

// parseName splits a function's symbol as govulncheck does: the package
// path, and the function or Receiver.Method without pointer or type
// arguments.
func parseName(name string) (pkg, sym string) {
	s := gosym.Sym{Name: name}
	sym = s.BaseName()
	if r := s.ReceiverName(); r != "" {
		sym = strings.Trim(r, "(*)") + "." + sym
	}
	pkg = s.PackageName()
	if strings.Contains(pkg, "%") {
		if p, err := url.PathUnescape(pkg); err == nil {
			pkg = p
		}
	}
	return pkg, sym
}

// The pclntab of Go 1.20 and later, as runtime/symtab.go lays it out.
const (
	magic120 = 0xfffffff1
	magic118 = 0xfffffff0
	// _func fields, by offset.
	funcNameOff   = 4
	funcNPCData   = 28
	funcNFuncData = 43
	funcPCData    = 44
	// PCDATA_InlTreeIndex and FUNCDATA_InlTree (internal/abi).
	pcdataInlTreeIndex = 2
	funcdataInlTree    = 3
	// An inlinedCall is 16 bytes; its name offset is at 4.
	inlinedCallSize    = 16
	inlinedCallNameOff = 4
)

// functions lists the names of the functions of a pclntab, and of the
// functions inlined into them when the inline trees can be found (Go 1.20
// and later, 64-bit): it reports whether they were.
func functions(ef *elf.File, tab []byte) (names []string, inlined bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			names, inlined, err = nil, false, fmt.Errorf("malformed pclntab: %v", r)
		}
	}()
	if len(tab) < 72 || tab[7] != 8 {
		return nil, false, errors.New("a pclntab this reader does not know (not Go 1.18+, 64-bit)")
	}
	le := binary.LittleEndian
	m := le.Uint32(tab)
	if m != magic120 && m != magic118 {
		return nil, false, fmt.Errorf("a pclntab of magic %#x (not Go 1.18+)", m)
	}
	minLC := uint64(tab[6])
	nfunc := le.Uint64(tab[8:])
	word := func(i int) uint64 { return le.Uint64(tab[8+8*i:]) }
	funcnames, pctab, pcln := word(3), word(6), word(7)
	if nfunc > uint64(len(tab))/8 || funcnames > uint64(len(tab)) || pctab > uint64(len(tab)) || pcln > uint64(len(tab)) {
		return nil, false, errors.New("a pclntab whose header points outside it")
	}
	name := func(off uint64) string {
		i := funcnames + off
		if i >= uint64(len(tab)) {
			return ""
		}
		end := bytes.IndexByte(tab[i:], 0)
		if end < 0 {
			return ""
		}
		return string(tab[i : i+uint64(end)])
	}
	var gofunc *memory
	if m == magic120 {
		gofunc = findGofunc(ef)
	}
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for i := uint64(0); i < nfunc; i++ {
		ft := pcln + 8*i
		if ft+8 > uint64(len(tab)) {
			return nil, false, errors.New("a function table past the pclntab's end")
		}
		f := pcln + uint64(le.Uint32(tab[ft+4:]))
		if f+funcPCData > uint64(len(tab)) {
			return nil, false, errors.New("a function past the pclntab's end")
		}
		add(name(uint64(le.Uint32(tab[f+funcNameOff:]))))
		if gofunc == nil {
			continue
		}
		npcdata, nfuncdata := uint64(le.Uint32(tab[f+funcNPCData:])), uint64(tab[f+funcNFuncData])
		if npcdata <= pcdataInlTreeIndex || nfuncdata <= funcdataInlTree {
			continue
		}
		pcdata := f + funcPCData
		funcdata := pcdata + 4*npcdata
		if funcdata+4*nfuncdata > uint64(len(tab)) {
			continue
		}
		idx := uint64(le.Uint32(tab[pcdata+4*pcdataInlTreeIndex:]))
		tree := le.Uint32(tab[funcdata+4*funcdataInlTree:])
		if idx == 0 || tree == ^uint32(0) {
			continue
		}
		for _, k := range pcvalues(tab, pctab+idx, minLC) {
			nameOff, ok := gofunc.uint32(uint64(tree) + uint64(k)*inlinedCallSize + inlinedCallNameOff)
			if ok {
				add(name(uint64(nameOff)))
			}
		}
	}
	return names, gofunc != nil, nil
}

// pcvalues decodes a pcvalue table and returns the distinct values it
// takes that are not negative: the inline tree's indices used.
func pcvalues(tab []byte, off, minLC uint64) []int32 {
	var out []int32
	seen := map[int32]bool{}
	val := int32(-1)
	p := off
	read := func() (uint64, bool) {
		if p >= uint64(len(tab)) {
			return 0, false
		}
		v, n := binary.Uvarint(tab[p:])
		if n <= 0 {
			return 0, false
		}
		p += uint64(n)
		return v, true
	}
	for first := true; ; first = false {
		uv, ok := read()
		if !ok || uv == 0 && !first {
			return out
		}
		if uv&1 != 0 {
			uv = ^(uv >> 1)
		} else {
			uv >>= 1
		}
		val += int32(uv)
		if _, ok := read(); !ok {
			return out
		}
		if val >= 0 && !seen[val] && len(seen) < 1<<16 {
			seen[val] = true
			out = append(out, val)
		}
	}
}

// memory is a span of the executable's address space, read from the file.
type memory struct {
	addr uint64
	data []byte
}

func (m *memory) uint32(off uint64) (uint32, bool) {
	if off+4 > uint64(len(m.data)) || off+4 < off {
		return 0, false
	}
	return binary.LittleEndian.Uint32(m.data[off:]), true
}

// findGofunc finds the go:func.* data the inline trees are offsets into:
// by its symbol, else by the moduledata's gofunc field (the moduledata
// found by its first word, the pclntab's address), and reads from there
// to the end of its section.
func findGofunc(ef *elf.File) *memory {
	var addr uint64
	if syms, err := ef.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "go:func.*" || s.Name == "go.func.*" {
				addr = s.Value
				break
			}
		}
	}
	if addr == 0 {
		addr = goexe.ModuledataWord(ef, goexe.ModuledataGofunc, func(v uint64) bool { return v != 0 })
	}
	if addr == 0 {
		return nil
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Addr == 0 || addr < s.Addr || addr >= s.Addr+s.Size {
			continue
		}
		b, err := goexe.Section(s)
		if err != nil {
			return nil
		}
		return &memory{addr: addr, data: b[addr-s.Addr:]}
	}
	return nil
}
