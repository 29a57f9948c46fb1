package integrations

import (
	"os"
	"os/exec"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// TestGoreleaserCheck validates .goreleaser.yml with goreleaser itself,
// when it is installed (GORELEASER, or on PATH): go install
// github.com/goreleaser/goreleaser/v2@v2.15.0 builds it with Go 1.26 in
// about five minutes, which CI does not spend on every run.
func TestGoreleaserCheck(t *testing.T) {
	gr := os.Getenv("GORELEASER")
	if gr == "" {
		gr, _ = exec.LookPath("goreleaser")
	}
	if gr == "" {
		t.Skip("skipping: goreleaser not installed (GOBIN=/tmp/gr go install github.com/goreleaser/goreleaser/v2@v2.15.0; GORELEASER=/tmp/gr/goreleaser)")
	}
	cmd := exec.Command(gr, "check")
	cmd.Dir = testimage.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
}
