package scan

import (
	"os"
	"testing"
)

// TestLooksLikeGo: the head of a Go executable holds its build ID note;
// that of a C program does not.
func TestLooksLikeGo(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{{os.Args[0], true}, {"/bin/true", false}} {
		b, err := os.ReadFile(tc.path)
		if err != nil {
			t.Skip(err)
		}
		if got := looksLikeGo(b[:min(len(b), headSize)]); got != tc.want {
			t.Errorf("looksLikeGo(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
