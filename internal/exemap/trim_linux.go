package exemap

import (
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// Trim unmaps from this process the pages of its own executable's
// read-only segments (code and read-only data). They are clean copies of
// the file: the next access maps them again from the page cache. Package
// initialisation touches code and data of every one of customs' 689
// packages, and the kernel maps 64 KiB around each page it faults in, so
// by the time main runs about 50 MB of the executable are mapped,
// most of it never used again; a short scan then peaks with those pages
// counted in its resident set.
//
// Only a statically linked executable is trimmed. In a dynamically linked
// one (a cgo build) the dynamic linker writes relocations into pages that
// it then makes read-only (RELRO): dropping those would bring back the
// file's unrelocated bytes, and the next call through them jumps to zero.
func Trim() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	type span struct{ start, end uintptr }
	var spans []span
	for _, line := range strings.Split(string(b), "\n") {
		// 00400000-025d1000 r-xp 00000000 fe:00 10029815   /path/to/exe
		fields := strings.Fields(line)
		if len(fields) < 6 {
			continue
		}
		if p := fields[5]; strings.Contains(path.Base(p), ".so") {
			return // a shared library is mapped: dynamically linked
		}
		if fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	for _, s := range spans {
		syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED)
	}
}
