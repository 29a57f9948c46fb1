package integrations

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// TestSelfScan scans the customs executable itself (the modules it is
// built from, as its build info lists them) against the real OSV data of
// ../shared/testdata: the gate passes, with only the ignores of
// .customs-self.yaml, whose reasons the test checks.
func TestSelfScan(t *testing.T) {
	osv := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv")
	if _, err := os.Stat(filepath.Join(osv, "Go", "all.zip")); err != nil {
		t.Skipf("skipping: the shared OSV data is absent: %v", err)
	}
	bin := buildCustoms(t)
	dir := t.TempDir()
	data, _ := os.ReadFile(bin)
	os.WriteFile(filepath.Join(dir, "customs"), data, 0o755)
	cmd := exec.Command(bin, "scan", "dir:"+dir, "--db", osv, "--db-warn-age", "0", "--config", filepath.Join(testimage.Root(), ".customs-self.yaml"))
	cmd.Env = append(os.Environ(), "CUSTOMS_CACHE="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("customs scan of itself: exit %d\n%s", code, out)
	}
	if strings.Contains(string(out), "matched no finding") || strings.Contains(string(out), "expired") {
		t.Errorf("an ignore of .customs-self.yaml is stale:\n%s", out)
	}
	deps, err := exec.Command("go", "list", "-deps", filepath.Join(testimage.Root(), "cmd", "customs")).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(deps)) {
		if strings.HasPrefix(p, "golang.org/x/crypto/openpgp") {
			t.Errorf("customs now imports %s: the ignore of GO-2026-5932 in .customs-self.yaml no longer holds", p)
		}
	}
}
