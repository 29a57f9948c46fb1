package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestSBOMPlatformOfSingleImage checks that --platform is matched against
// the config of an image that is not in a multi-platform index, on every
// transport: its own platform is accepted, another is refused with the
// image's platform listed.
func TestSBOMPlatformOfSingleImage(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	img := testimage.Image(t, "amd64", nil)
	push(t, reg.Host+"/single:1.0", img, nil)

	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	testimage.WriteLayout(t, layoutDir, img, nil, "1.0")
	testimage.TarDir(t, layoutDir, filepath.Join(dir, "oci.tar"))
	testimage.WriteDockerArchive(t, img, filepath.Join(dir, "docker.tar"), false)
	testimage.WriteDockerArchive(t, img, filepath.Join(dir, "docker.tar.gz"), true)

	for _, tc := range []struct{ name, target string }{
		{"registry", reg.Host + "/single:1.0"},
		{"oci layout", "oci:" + layoutDir},
		{"oci-archive", "oci-archive:" + filepath.Join(dir, "oci.tar")},
		{"docker-archive", "docker-archive:" + filepath.Join(dir, "docker.tar")},
		{"docker-archive gzip", "docker-archive:" + filepath.Join(dir, "docker.tar.gz")},
	} {
		target := tc.target
		t.Run(tc.name, func(t *testing.T) {
			env := cacheEnv(t)
			out := filepath.Join(t.TempDir(), "sbom.json")
			if _, stderr, code := customs(t, env, "sbom", target, "--platform", "linux/amd64", "-o", "syft-json="+out); code != 0 {
				t.Errorf("customs sbom %s --platform linux/amd64: exit %d, want 0\n%s", target, code, stderr)
			} else if got := readSyft(t, out).Source.Metadata.Architecture; got != "amd64" {
				t.Errorf("customs sbom %s --platform linux/amd64: architecture %q, want amd64", target, got)
			}
			_, stderr, code := customs(t, env, "sbom", target, "--platform", "linux/arm64", "-o", "syft-json="+out)
			if code != 2 || !strings.Contains(stderr, "no image for platform linux/arm64 (available: linux/amd64)") {
				t.Errorf("customs sbom %s --platform linux/arm64: exit %d, stderr %q; want 2 and the image's platform linux/amd64 listed", target, code, stderr)
			}
		})
	}
}
