package startup

import (
	"os"
	"runtime/debug"
	"strconv"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// TestRestsThenRestores checks the bound runtime function: GOGC is 400
// from init until Done, then what it was (GOGC from the environment, or
// 100).
func TestRestsThenRestores(t *testing.T) {
	if got := gcPercent(); got != restGCPercent {
		t.Fatalf("GC percent during initialisation = %d, want %d", got, restGCPercent)
	}
	Done()
	want := 100
	if v, err := strconv.Atoi(os.Getenv("GOGC")); err == nil {
		want = v
	}
	if got := gcPercent(); got != want {
		t.Fatalf("GC percent after Done = %d, want %d", got, want)
	}
	Done() // a second call changes nothing
	if got := gcPercent(); got != want {
		t.Fatalf("GC percent after a second Done = %d, want %d", got, want)
	}
}
