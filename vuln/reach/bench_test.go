package reach

import (
	"bytes"
	"os"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// BenchmarkReadBinary reads the fixture program's functions.
func BenchmarkReadBinary(b *testing.B) {
	bin := testimage.GoBinary(b, "amd64")
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := ReadBinary(bytes.NewReader(bin)); err != nil {
			b.Fatal(err)
		}
	}
	_ = os.Stdout
}
