package admission

import (
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestAllowUnscanned admits a Debian image on a database of Go records
// only when the rule that decides says allow-unscanned, and says in the
// decision what was not scanned. Without it the image is denied (see
// TestErrorCauses).
func TestAllowUnscanned(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	signtest.Push(t, reg.Host+"/debian:1", testimage.Image(t, "amd64", nil))
	const trust = "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\n"
	for name, policy := range map[string]string{
		"in the defaults": trust + "defaults:\n  allow-unscanned: true\n",
		"in a rule":       trust + "rules:\n  - images: '**'\n    allow-unscanned: true\n",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(newFixture(t, policy).config())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d := check(t, s.Handler(), reg.Host+"/debian:1")
			want := "not scanned, the vulnerability database has no data for Debian (4 packages)"
			if !d.Allowed || !strings.Contains(strings.Join(d.Warnings, "\n"), want) {
				t.Errorf("a Debian image with a Go-only database and allow-unscanned: %+v, want allowed with a warning %q", d, want)
			}
		})
	}
}
