package reach

import (
	"bytes"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// BenchmarkReadBinary reads the fixture program's functions and the
// functions inlined into them.
func BenchmarkReadBinary(b *testing.B) {
	bin := testimage.GoBinary(b, "amd64")
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := ReadBinary(bytes.NewReader(bin)); err != nil {
			b.Fatal(err)
		}
	}
}
