package licensecheck

// This file is an addition of customs' copy (see README.customs.md):
// the scanner of the built-in licenses, compiled when this copy was made
// and stored beside the code, so that a program needs no second of CPU
// and no hundred megabytes of garbage to build it.

import (
	"bufio"
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"

	"github.com/google/licensecheck/internal/match"
)

//go:generate go run gen_builtin.go

//go:embed builtin.compiled
var builtinCompiled []byte

const compiledMagic = "licensecheck compiled 1\n"

// NewBuiltinScanner returns a scanner of BuiltinLicenses, as
// NewScanner(BuiltinLicenses()) builds it, read from the compiled form
// stored with this package.
func NewBuiltinScanner() (*Scanner, error) {
	c, err := readCompiled(builtinCompiled)
	if err != nil {
		return nil, fmt.Errorf("licensecheck: the stored built-in scanner: %w", err)
	}
	s := &Scanner{urls: make(map[string]License), re: match.FromCompiled(c)}
	for _, l := range BuiltinLicenses() {
		if l.URL != "" {
			s.urls[l.URL] = l
		}
		if l.LRE != "" {
			s.licenses = append(s.licenses, l)
		}
	}
	return s, nil
}

// SameScanner reports whether a and b recognize the same licenses with
// the same compiled state.
func SameScanner(a, b *Scanner) bool {
	ca, cb := a.re.Compiled(), b.re.Compiled()
	sortStart(ca.Start)
	sortStart(cb.Start)
	return reflect.DeepEqual(a.licenses, b.licenses) && reflect.DeepEqual(a.urls, b.urls) &&
		reflect.DeepEqual(ca.Words, cb.Words) && reflect.DeepEqual(ca.Start, cb.Start) &&
		bytes.Equal(int32Bytes(ca.DFA), int32Bytes(cb.DFA))
}

// WriteBuiltin compiles BuiltinLicenses and writes the compiled form that
// NewBuiltinScanner reads.
func WriteBuiltin(w io.Writer) error {
	s, err := NewScanner(BuiltinLicenses())
	if err != nil {
		return err
	}
	c := s.re.Compiled()
	sortStart(c.Start)
	zw, err := flate.NewWriter(w, flate.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	bw.WriteString(compiledMagic)
	var n [binary.MaxVarintLen64]byte
	uvarint := func(v int) { bw.Write(n[:binary.PutUvarint(n[:], uint64(v))]) }
	uvarint(len(c.Words))
	for _, word := range c.Words {
		uvarint(len(word))
		bw.WriteString(word)
	}
	uvarint(len(c.DFA))
	bw.Write(int32Bytes(c.DFA))
	uvarint(len(c.Start))
	for _, p := range c.Start {
		bw.Write(int32Bytes(p[:]))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

func readCompiled(b []byte) (match.Compiled, error) {
	var c match.Compiled
	r := bufio.NewReader(flate.NewReader(bytes.NewReader(b)))
	magic := make([]byte, len(compiledMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != compiledMagic {
		return c, errors.New("not a compiled scanner")
	}
	count := func(max int) (int, error) {
		v, err := binary.ReadUvarint(r)
		if err != nil || v > uint64(max) {
			return 0, errors.New("truncated or corrupt")
		}
		return int(v), nil
	}
	nw, err := count(1 << 24)
	if err != nil {
		return c, err
	}
	c.Words = make([]string, nw)
	for i := range c.Words {
		l, err := count(1 << 16)
		if err != nil {
			return c, err
		}
		w := make([]byte, l)
		if _, err := io.ReadFull(r, w); err != nil {
			return c, err
		}
		c.Words[i] = string(w)
	}
	nd, err := count(1 << 28)
	if err != nil {
		return c, err
	}
	c.DFA = make([]int32, nd)
	if err := binary.Read(r, binary.LittleEndian, c.DFA); err != nil {
		return c, err
	}
	ns, err := count(1 << 24)
	if err != nil {
		return c, err
	}
	c.Start = make([][2]int32, ns)
	if err := binary.Read(r, binary.LittleEndian, c.Start); err != nil {
		return c, err
	}
	return c, nil
}

func int32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func sortStart(s [][2]int32) {
	sort.Slice(s, func(i, j int) bool { return s[i][0] < s[j][0] || s[i][0] == s[j][0] && s[i][1] < s[j][1] })
}
