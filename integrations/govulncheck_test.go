package integrations

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/scan"
)

// TestGovulncheck runs govulncheck (set GOVULNCHECK to its binary; .ci/run
// installs v1.9.0) offline, on the Go vulnerability data of
// ../shared/testdata unpacked as a directory of OSV records, which
// govulncheck reads as a database:
//   - on the customs executable (binary mode): no vulnerability its code
//     calls;
//   - on the source of every package (./..., tests' helpers included):
//     every vulnerability whose symbols are reached is one that
//     .customs-self.yaml ignores, with its reason.
func TestGovulncheck(t *testing.T) {
	gvc := os.Getenv("GOVULNCHECK")
	if gvc == "" {
		t.Skip("skipping: set GOVULNCHECK to a govulncheck binary (go install golang.org/x/vuln/cmd/govulncheck@v1.9.0)")
	}
	_, db := testimage.GoVulnRecords(t)
	bin := buildCustoms(t)

	called := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command(gvc, append([]string{"-db", "file://" + db, "-format", "json"}, args...)...)
		cmd.Dir = testimage.Root()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("govulncheck %v: %v\n%s", args, err, out)
		}
		ids := map[string]bool{}
		dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(out)))
		for {
			var msg struct {
				Finding *struct {
					OSV   string `json:"osv"`
					Trace []struct {
						Function string `json:"function"`
					} `json:"trace"`
				} `json:"finding"`
			}
			if err := dec.Decode(&msg); err != nil {
				break
			}
			// A finding whose trace starts at a function is one the code
			// reaches; the others are only imported or required.
			if f := msg.Finding; f != nil && len(f.Trace) > 0 && f.Trace[0].Function != "" {
				ids[f.OSV] = true
			}
		}
		var out2 []string
		for id := range ids {
			out2 = append(out2, id)
		}
		sort.Strings(out2)
		return out2
	}

	if ids := called("-mode", "binary", bin); len(ids) > 0 {
		t.Errorf("govulncheck finds vulnerabilities the customs executable calls: %v", ids)
	}
	cfg, err := scan.ReadConfig(filepath.Join(testimage.Root(), ".customs-self.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	explained := map[string]string{}
	for _, ig := range cfg.Ignore {
		explained[ig.ID] = ig.Reason
	}
	for _, id := range called("./...") {
		if reason, ok := explained[id]; ok {
			t.Logf("%s is reached in the source (tests' helpers included) and explained: %s", id, reason)
			continue
		}
		t.Errorf("govulncheck ./... finds %s reached, and .customs-self.yaml does not explain it", id)
	}
}
