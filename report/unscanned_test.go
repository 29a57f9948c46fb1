package report

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/result"
)

// TestUnscannedInEveryFormat renders a result whose Debian packages were
// not scanned for want of data: each format says so, with the count.
func TestUnscannedInEveryFormat(t *testing.T) {
	r := sampleResult(t)
	r.Unscanned = []result.UnscannedEcosystem{{Ecosystem: "Debian", Packages: 4}, {Ecosystem: "PyPI", Packages: 1}}
	s := validator(t, "file:///report.schema.json", map[string]string{"file:///report.schema.json": filepath.Join(testimage.Root(), "docs", "report.schema.json")})
	validate(t, s, render(t, r, "json"))
	for format, want := range map[string]string{
		"table":    "\nnot scanned, no vulnerability data: Debian (4 packages), PyPI (1 package)\n",
		"markdown": " Not scanned, no vulnerability data: Debian (4 packages), PyPI (1 package).",
		"json":     `"unscanned": [`,
	} {
		if out := string(render(t, r, format)); !strings.Contains(out, want) {
			t.Errorf("%s output does not contain %q:\n%s", format, want, out)
		}
	}

	sarif := render(t, r, "sarif")
	validate(t, sarifSchema(t), sarif)
	var log struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful        bool
				ToolExecutionNotifications []struct {
					Level      string
					Message    struct{ Text string }
					Properties map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal(sarif, &log); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inv := range log.Runs[0].Invocations {
		for _, n := range inv.ToolExecutionNotifications {
			got = append(got, n.Level+": "+n.Message.Text)
		}
	}
	want := []string{
		"warning: 4 Debian package(s) not scanned: the vulnerability database has no data for Debian",
		"warning: 1 PyPI package(s) not scanned: the vulnerability database has no data for PyPI",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SARIF tool execution notifications (-want +got):\n%s", diff)
	}

	// Nothing unscanned, no invocation: the SARIF of an ordinary scan is
	// what it was.
	r.Unscanned = nil
	if out := string(render(t, r, "sarif")); strings.Contains(out, "invocations") {
		t.Errorf("SARIF of a scan with nothing unscanned has invocations:\n%s", out)
	}
}
