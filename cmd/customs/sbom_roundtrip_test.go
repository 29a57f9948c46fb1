package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/source"
	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/sbom"
)

// roundTripped is what an SBOM must keep when customs reads it back with
// sbom:FILE and writes it again, in any format.
type roundTripped struct {
	Tool                  string
	Source, SourceVersion string
	Platform              string
	Distro                string // ID, VERSION_ID and PRETTY_NAME
	Packages              []string
}

func readRoundTripped(t *testing.T, path string) roundTripped {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := sbom.Decode(f)
	if err != nil {
		t.Fatalf("Decode(%s): %v", path, err)
	}
	r := roundTripped{Tool: s.Descriptor.Name, Source: s.Source.Name, SourceVersion: s.Source.Version}
	if m, ok := s.Source.Metadata.(source.ImageMetadata); ok {
		r.Platform = m.OS + "/" + m.Architecture
	}
	if d := s.Artifacts.LinuxDistribution; d != nil {
		r.Distro = d.ID + " " + d.VersionID + " " + d.PrettyName
	}
	for _, p := range s.Artifacts.Packages.Sorted() {
		r.Packages = append(r.Packages, p.Name+" "+p.Version+" "+p.PURL)
	}
	sort.Strings(r.Packages)
	return r
}

// TestSBOMRoundTrip makes an image's SBOM in every format, reads each back
// with sbom:FILE and writes every format again: nothing customs wrote
// about the image, its platform, its distribution or its packages is lost
// on the way.
func TestSBOMRoundTrip(t *testing.T) {
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	testimage.WriteLayout(t, layout, testimage.Image(t, "amd64", nil), nil, "v1")
	env := cacheEnv(t)
	formats := map[string]string{"cyclonedx-json": "cdx.json", "spdx-json": "spdx.json", "syft-json": "syft.json"}
	write := func(target, prefix string) {
		t.Helper()
		args := []string{"sbom", target}
		for f, ext := range formats {
			args = append(args, "-o", f+"="+prefix+"."+ext)
		}
		args = append(args, "-o", "table="+prefix+".txt")
		if _, stderr, code := customs(t, env, args...); code != 0 {
			t.Fatalf("customs %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	first := filepath.Join(dir, "first")
	write("oci:"+layout+":v1", first)

	want := readRoundTripped(t, first+".syft.json")
	if want.Platform != "linux/amd64" || !strings.HasPrefix(want.Distro, "debian 12 Debian GNU/Linux 12") || len(want.Packages) == 0 || want.Tool != "customs" {
		t.Fatalf("the image's own SBOM = %+v, want customs's SBOM of a linux/amd64 Debian 12 image with packages", want)
	}
	for in, inExt := range formats {
		for out, outExt := range formats {
			t.Run(in+" to "+out, func(t *testing.T) {
				again := filepath.Join(dir, in+"-again")
				if _, err := os.Stat(again + "." + outExt); err != nil {
					write("sbom:"+first+"."+inExt, again)
				}
				if diff := cmp.Diff(want, readRoundTripped(t, first+"."+inExt)); diff != "" {
					t.Errorf("%s read back (-made +read):\n%s", in, diff)
				}
				if diff := cmp.Diff(want, readRoundTripped(t, again+"."+outExt)); diff != "" {
					t.Errorf("%s written again as %s (-made +again):\n%s", in, out, diff)
				}
			})
		}
		t.Run(in+" to table", func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, in+"-again.txt"))
			if err != nil {
				t.Fatal(err)
			}
			header, _, _ := strings.Cut(string(b), "\n")
			if header != want.Source+" "+want.SourceVersion {
				t.Errorf("table of %s starts %q, want %q", in, header, want.Source+" "+want.SourceVersion)
			}
			if !strings.Contains(string(b), "platform: linux/amd64") || !strings.Contains(string(b), "distribution: Debian GNU/Linux 12 (bookworm)") {
				t.Errorf("table of %s =\n%s\nwant the platform linux/amd64 and the distribution Debian GNU/Linux 12 (bookworm)", in, b)
			}
		})
	}
}
