package vuln

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"

	"github.com/customs-dev/customs/internal/hint"
)

// TestMatchWithoutAnEcosystemsData matches Go, Debian and PyPI packages
// against Go data only: the error names what is missing and how many
// packages it leaves out, and the Go packages are matched as they would be
// alone.
func TestMatchWithoutAnEcosystemsData(t *testing.T) {
	dir := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	goPkgs := []Package{
		{Name: "github.com/tidwall/gjson", Version: "1.6.5", Ecosystem: "Go"},
		{Name: "golang.org/x/text", Version: "0.3.0", Ecosystem: "Go"},
	}
	pkgs := append([]Package{
		{Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
		{Name: "requests", Version: "2.0.0", Ecosystem: "PyPI"},
		{Name: "zlib", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12"},
	}, goPkgs...)

	got, err := db.Match(context.Background(), pkgs)
	var merr *MissingEcosystemError
	if !errors.As(err, &merr) {
		t.Fatalf("Match(Go, Debian, PyPI) error = %v, want a *MissingEcosystemError", err)
	}
	want := &MissingEcosystemError{Dir: dir, Ecosystems: []string{"Debian", "PyPI"}, Packages: map[string]int{"Debian": 2, "PyPI": 1}}
	if diff := cmp.Diff(want, merr); diff != "" {
		t.Errorf("Match(Go, Debian, PyPI) error (-want +got):\n%s", diff)
	}
	// The message is what the CLI prints when the gap is not accepted,
	// with its hint spelled as the CLI spells settings.
	if msg := "the OSV database in " + dir + " has no data for Debian, PyPI: run `customs db update --ecosystem Debian --ecosystem PyPI`, or `customs db import` an all.zip from osv-vulnerabilities"; hint.Word(err, func(s string) string { return "--" + s }) != msg {
		t.Errorf("error = %q, want %q", hint.Word(err, func(s string) string { return "--" + s }), msg)
	}
	if got == nil {
		t.Fatal("Match returned no result beside the missing ecosystems")
	}

	alone, err := db.Match(context.Background(), goPkgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(alone.Findings) == 0 {
		t.Fatal("the Go packages have no findings in the demo data: the test checks nothing")
	}
	if diff := cmp.Diff(ids(alone.Findings), ids(got.Findings)); diff != "" {
		t.Errorf("Go findings with Debian and PyPI left out differ from the Go packages' alone (-alone +with):\n%s", diff)
	}
	if got.Revision != alone.Revision {
		t.Errorf("revision = %s, want %s (that of the Go data alone)", got.Revision, alone.Revision)
	}
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Package.Name+"@"+f.Package.Version+" "+f.ID)
	}
	return out
}
