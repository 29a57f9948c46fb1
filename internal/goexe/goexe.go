// Package goexe reads what customs needs of a Go ELF executable's layout
// that debug/elf does not give: a section's bytes in one read, and words
// of the runtime's moduledata, which stripped executables keep and
// position-independent ones fill through relocations. The capability
// analysis of executables and reachability both read them.
package goexe

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxSection bounds the sections read.
const MaxSection = 1 << 30

// Section reads a section in one read (elf's Data grows its buffer as it
// goes). A header may claim any size: the section's last byte must be in
// the file before its size is allocated.
func Section(s *elf.Section) ([]byte, error) {
	if s.Type == elf.SHT_NOBITS {
		return nil, errors.New("no data")
	}
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		return s.Data()
	}
	if s.Size > MaxSection {
		return nil, fmt.Errorf("a section of %d bytes", s.Size)
	}
	if s.Size > 0 {
		if _, err := s.ReadAt(make([]byte, 1), int64(s.Size-1)); err != nil {
			return nil, fmt.Errorf("a section of %d bytes past the end of the file", s.Size)
		}
	}
	b := make([]byte, s.Size)
	if _, err := s.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// The words of the runtime's moduledata (runtime/symtab.go, Go 1.20 and
// later, 64-bit) that customs reads.
const (
	ModuledataText   = 22 // runtime.text
	ModuledataGofunc = 40 // go:func.*, the base of the inline trees
)

// ModuledataWord reads a word of the runtime's moduledata, found in a data
// section by its first word, the pclntab's address, and its second, the
// funcnametab's, which lies after it: the first such candidate whose word
// ok accepts, 0 when there is none. Position-independent executables hold
// these words in relocations, and are read through them.
func ModuledataWord(ef *elf.File, word int, ok func(uint64) bool) uint64 {
	pcln := ef.Section(".gopclntab")
	if pcln == nil {
		return 0
	}
	relocs := relativeRelocs(ef)
	for _, name := range []string{".go.module", ".noptrdata", ".data", ".data.rel.ro"} {
		sec := ef.Section(name)
		if sec == nil || sec.Type == elf.SHT_NOBITS || sec.Size > 256<<20 {
			continue
		}
		b, err := Section(sec)
		if err != nil {
			continue
		}
		at := func(off int) uint64 {
			if v, ok := relocs[sec.Addr+uint64(off)]; ok {
				return v
			}
			return binary.LittleEndian.Uint64(b[off:])
		}
		for off := 0; off+8*(word+1) <= len(b); off += 8 {
			if at(off) == pcln.Addr && at(off+8) > pcln.Addr {
				if v := at(off + 8*word); ok(v) {
					return v
				}
			}
		}
	}
	return 0
}

// relativeRelocs are the R_X86_64_RELATIVE and R_AARCH64_RELATIVE
// relocations of a position-independent executable: the address each
// fills, and the value it gets (the load address being 0).
func relativeRelocs(ef *elf.File) map[uint64]uint64 {
	sec := ef.Section(".rela.dyn")
	if sec == nil || ef.Type != elf.ET_DYN {
		return nil
	}
	b, err := Section(sec)
	if err != nil {
		return nil
	}
	out := map[uint64]uint64{}
	for off := 0; off+24 <= len(b); off += 24 {
		typ := binary.LittleEndian.Uint64(b[off+8:]) & 0xffffffff
		if ef.Machine == elf.EM_X86_64 && typ == uint64(elf.R_X86_64_RELATIVE) ||
			ef.Machine == elf.EM_AARCH64 && typ == uint64(elf.R_AARCH64_RELATIVE) {
			out[binary.LittleEndian.Uint64(b[off:])] = binary.LittleEndian.Uint64(b[off+16:])
		}
	}
	return out
}
