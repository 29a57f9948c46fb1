package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
)

// TestRunTimesTheScan: the result says when the scan started and how long
// it took (JUnit and GitLab reports show both), and where each package was
// found (GitLab lists dependencies by file).
func TestRunTimesTheScan(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n\nrequire github.com/tidwall/gjson v1.6.5\n"), 0o644)
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	calls := 0
	clock := func() time.Time { // the start, then 90.25 seconds later
		calls++
		if calls == 1 {
			return start
		}
		return start.Add(90250 * time.Millisecond)
	}
	p := DefaultPolicy()
	p.WarnDBAge = 0
	scanner := &Scanner{DB: filepath.Join(testimage.Root(), "testdata", "osv-demo"), Now: clock}
	r, err := scanner.Scan(context.Background(), pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:app"}, Request{Policy: p})
	var perr *PolicyError
	if err != nil && !errors.As(err, &perr) {
		t.Fatal(err)
	}
	if !r.Time.Equal(start) || r.Duration != 90.25 {
		t.Errorf("Run: time %s, duration %vs; want %s, 90.25s", r.Time, r.Duration, start)
	}
	want := []result.PackageRef{{Name: "github.com/tidwall/gjson", Version: "1.6.5", Ecosystem: "Go", Locations: []string{"go.mod"}}}
	if diff := cmp.Diff(want, r.Packages.List); diff != "" {
		t.Errorf("result.Packages.List (-want +got):\n%s", diff)
	}
}
