package sbom

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/vuln"
)

// TestMatchingSBOMHasEveryMatchablePackage checks that the lighter SBOM
// scans make gives matching exactly the packages the full SBOM gives.
func TestMatchingSBOMHasEveryMatchablePackage(t *testing.T) {
	img := testimage.Image(t, "amd64", testimage.GoBinary(t, "amd64"))
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
	fullPkgs, fullGaps := vuln.Packages(full)
	leanPkgs, leanGaps := vuln.Packages(lean)
	if len(fullPkgs) < 10 {
		t.Fatalf("the full SBOM has only %d matchable packages", len(fullPkgs))
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
