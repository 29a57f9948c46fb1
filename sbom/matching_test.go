package sbom

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/vuln"
)

// TestMatchingSBOMHasEveryMatchablePackage checks that the lighter SBOM
// scans make gives matching exactly the packages the full SBOM gives. The
// image's Debian packages have their info files and copyright files: the
// full SBOM lists each package's files, the matching one does not read
// them.
func TestMatchingSBOMHasEveryMatchablePackage(t *testing.T) {
	img := testimage.Image(t, "amd64", testimage.GoBinary(t, "amd64"))
	var info []testimage.File
	for name := range testimage.Packages {
		info = append(info,
			testimage.File{Name: "var/lib/dpkg/info/" + name + ":amd64.md5sums", Body: "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/" + name + "/copyright\n"},
			testimage.File{Name: "var/lib/dpkg/info/" + name + ":amd64.list", Body: "/usr/share/doc/" + name + "/copyright\n"},
			testimage.File{Name: "var/lib/dpkg/info/" + name + ":amd64.conffiles", Body: "/etc/" + name + ".conf\n"},
			testimage.File{Name: "usr/share/doc/" + name + "/copyright", Body: "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT\n"})
	}
	img, err := mutate.AppendLayers(img, testimage.Layer(t, info...))
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "app.tar")
	testimage.WriteDockerArchive(t, img, archive, true)
	ctx := context.Background()
	a, err := pull.Fetch(ctx, pull.Target{Kind: pull.DockerArchive, Ref: archive, Input: "docker-archive:" + archive}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	full, err := Generate(ctx, a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lean, err := Generate(ctx, a, Options{ForMatching: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, lf := range []struct {
		name  string
		s     *syftsbom.SBOM
		files bool
	}{{"full", full, true}, {"matching", lean, false}} {
		for p := range lf.s.Artifacts.Packages.Enumerate(pkg.DebPkg) {
			m, _ := p.Metadata.(pkg.DpkgDBEntry)
			if got := len(m.Files) > 0; got != lf.files {
				t.Errorf("%s SBOM: package %s has %d files listed, want files listed: %v", lf.name, p.Name, len(m.Files), lf.files)
			}
		}
	}
	fullPkgs, fullGaps := vuln.Packages(full)
	leanPkgs, leanGaps := vuln.Packages(lean)
	if len(fullPkgs) < 10 {
		t.Fatalf("the full SBOM has only %d matchable packages", len(fullPkgs))
	}
	// The full SBOM also locates a Debian package by its info and
	// copyright files, which the matching one does not read.
	for i, p := range fullPkgs {
		var kept []string
		for _, l := range p.Locations {
			if _, path, _ := strings.Cut(l, ":/"); !dpkgExtra("/" + path) {
				kept = append(kept, l)
			}
		}
		fullPkgs[i].Locations = kept
	}
	if diff := cmp.Diff(fullPkgs, leanPkgs); diff != "" {
		t.Errorf("matchable packages differ (-full +matching):\n%s", diff)
	}
	if diff := cmp.Diff(gaps(fullGaps), gaps(leanGaps)); diff != "" {
		t.Errorf("unmatchable distribution packages differ (-full +matching):\n%s", diff)
	}
}

func gaps(us []vuln.Unscanned) []vuln.Unscanned {
	var out []vuln.Unscanned
	for _, u := range us {
		if u.Gap {
			out = append(out, u)
		}
	}
	return out
}
