package startup

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// exeRSS is the resident size in KiB of this test executable's read-only
// mappings.
func exeRSS(t *testing.T) int {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	total, inExe := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 6 && strings.Contains(f[0], "-"):
			inExe = f[5] == exe && !strings.Contains(f[1], "w")
		case inExe && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}

// TestTrimUnmapsTheExecutable: trim leaves less of the executable's code
// and read-only data mapped, and the program runs on.
func TestTrimUnmapsTheExecutable(t *testing.T) {
	before := exeRSS(t)
	trim()
	after := exeRSS(t)
	t.Logf("executable's read-only pages resident: %d KiB before trim, %d KiB after", before, after)
	if before == 0 || after >= before {
		t.Errorf("trim left %d KiB of %d KiB mapped", after, before)
	}
}
