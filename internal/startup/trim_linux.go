package startup

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// trim unmaps from this process the pages of its own executable's
// read-only segments (code and read-only data). They are clean copies of
// the file: the next access maps them again from the page cache. Package
// initialisation touches code and data of every one of customs' 689
// packages, and the kernel maps 64 KiB around each page it faults in, so
// by the time main runs about 50 MB of the 79 MB executable are mapped,
// most of it never used again; a short scan then peaks with those pages
// counted in its resident set.
func trim() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-025d1000 r-xp 00000000 fe:00 10029815   /path/to/exe
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
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
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED)
	}
}
