package exemap

import (
	"os"
	"os/exec"
	"path/filepath"
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
	Trim()
	after := exeRSS(t)
	t.Logf("executable's read-only pages resident: %d KiB before trim, %d KiB after", before, after)
	if before == 0 || after >= before {
		t.Errorf("trim left %d KiB of %d KiB mapped", after, before)
	}
}

// TestTrimDynamic runs a cgo build, which the dynamic linker relocates,
// through Trim and then into libc: Trim must leave it alone (it crashed
// with a jump to address zero when it unmapped the relocated pages).
func TestTrimDynamic(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipping: no C compiler for a cgo build")
	}
	dir, err := os.MkdirTemp(".", "cgoprog")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := `package main

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"os/user"

	"github.com/customs-dev/customs/internal/exemap"
)

func main() {
	exemap.Trim()
	C.free(C.malloc(16))
	u, err := user.Current()
	fmt.Println(u != nil, err)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cgoprog")
	build := exec.Command("go", "build", "-o", bin, "./"+filepath.Base(dir))
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the cgo program: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "true") {
		t.Fatalf("the cgo program after Done: %v\n%s", err, out)
	}
}
