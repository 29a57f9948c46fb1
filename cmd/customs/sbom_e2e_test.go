package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/testimage"
)

// wantGoModules are the modules testdata/goapp links.
var wantGoModules = map[string]string{
	"github.com/tidwall/gjson":  "v1.6.5",
	"github.com/tidwall/match":  "v1.0.3",
	"github.com/tidwall/pretty": "v1.0.2",
	"golang.org/x/crypto":       "v0.0.0-20190308221718-c2843e01d9a2",
	"golang.org/x/net":          "v0.0.0-20190620200207-3b0461eec859",
	"golang.org/x/text":         "v0.3.0",
	"gopkg.in/yaml.v2":          "v2.2.7",
}

func push(t *testing.T, ref string, img v1.Image, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if img != nil {
		if err := remote.Write(r, img); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		d, _ := img.Digest()
		return d
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, _ := idx.Digest()
	return d
}

// TestSBOMFromEveryImageTransport pushes an image built from real content
// to a real registry and checks that every transport gives the same
// packages, with the right versions, the digest and each package's layer.
func TestSBOMFromEveryImageTransport(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	img := testimage.Image(t, "amd64", goappBinary(t))
	digest := push(t, reg.Host+"/goapp:1.0", img, nil)

	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	testimage.WriteLayout(t, layoutDir, img, nil, "1.0")
	testimage.TarDir(t, layoutDir, filepath.Join(dir, "oci.tar"))
	testimage.WriteDockerArchive(t, img, filepath.Join(dir, "docker.tar"), false)
	testimage.WriteDockerArchive(t, img, filepath.Join(dir, "docker.tar.gz"), true)

	env := cacheEnv(t)
	out := filepath.Join(dir, "registry.json")
	if _, stderr, code := customs(t, env, "sbom", reg.Host+"/goapp:1.0", "-o", "syft-json="+out); code != 0 {
		t.Fatalf("customs sbom registry: exit %d\n%s", code, stderr)
	}
	want := readSyft(t, out)
	if got := want.Source.Metadata.ManifestDigest; got != digest.String() {
		t.Errorf("manifest digest = %q, want %q", got, digest)
	}
	if got := want.Source.Version; got != digest.String() {
		t.Errorf("source version = %q, want the digest %q", got, digest)
	}
	for pkg, v := range testimage.Packages {
		if got := want.version(pkg); got != v {
			t.Errorf("dpkg package %s = %q, want %q", pkg, got, v)
		}
	}
	for mod, v := range wantGoModules {
		if got := want.version(mod); got != v {
			t.Errorf("go module %s = %q, want %q", mod, got, v)
		}
	}
	layers, _ := img.Layers()
	base, _ := layers[0].DiffID()
	app, _ := layers[1].DiffID()
	for _, a := range want.Artifacts {
		wantLayer := base.String()
		if a.Type == "go-module" {
			wantLayer = app.String()
		}
		if len(a.Locations) == 0 || a.Locations[0].LayerID != wantLayer {
			t.Errorf("package %s: locations %+v, want layer %s", a.Name, a.Locations, wantLayer)
		}
	}

	for _, tc := range []struct{ name, target string }{
		{"oci layout", "oci:" + layoutDir},
		{"oci layout with tag", "oci:" + layoutDir + ":1.0"},
		{"oci-archive", "oci-archive:" + filepath.Join(dir, "oci.tar")},
		{"docker-archive", "docker-archive:" + filepath.Join(dir, "docker.tar")},
		{"docker-archive gzip", "docker-archive:" + filepath.Join(dir, "docker.tar.gz")},
	} {
		target := tc.target
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sbom.json")
			if _, stderr, code := customs(t, cacheEnv(t), "sbom", target, "-o", "syft-json="+out); code != 0 {
				t.Fatalf("customs sbom %s: exit %d\n%s", target, code, stderr)
			}
			got := readSyft(t, out)
			if diff := cmp.Diff(want.packageSet(), got.packageSet()); diff != "" {
				t.Errorf("customs sbom %s: packages differ from the registry's (-registry +%s):\n%s", target, target, diff)
			}
			if got.Source.Metadata.ManifestDigest == "" {
				t.Errorf("customs sbom %s: no manifest digest recorded", target)
			}
		})
	}
}

// TestSBOMMultiPlatform checks platform selection from an index.
func TestSBOMMultiPlatform(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	idx := testimage.Index(t, map[string]v1.Image{
		"amd64": testimage.Image(t, "amd64", goappBinary(t)),
		"arm64": testimage.Image(t, "arm64", nil),
	})
	push(t, reg.Host+"/multi:1.0", nil, idx)
	im, _ := idx.IndexManifest()
	digests := map[string]string{}
	for _, m := range im.Manifests {
		digests[m.Platform.Architecture] = m.Digest.String()
	}

	for _, tc := range []struct {
		platform, arch string
		goModules      bool
	}{
		{"linux/amd64", "amd64", true},
		{"linux/arm64", "arm64", false},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sbom.json")
			if _, stderr, code := customs(t, cacheEnv(t), "sbom", reg.Host+"/multi:1.0", "--platform", tc.platform, "-o", "syft-json="+out); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			d := readSyft(t, out)
			if got := d.Source.Metadata.ManifestDigest; got != digests[tc.arch] {
				t.Errorf("digest = %s, want the %s manifest %s", got, tc.arch, digests[tc.arch])
			}
			if got := d.Source.Metadata.Architecture; got != tc.arch {
				t.Errorf("architecture = %q, want %q", got, tc.arch)
			}
			if has := d.version("github.com/tidwall/gjson") != ""; has != tc.goModules {
				t.Errorf("go modules listed = %v, want %v", has, tc.goModules)
			}
		})
	}

	t.Run("missing platform", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "sbom.json")
		_, stderr, code := customs(t, cacheEnv(t), "sbom", reg.Host+"/multi:1.0", "--platform", "linux/s390x", "-o", "table="+out)
		if code != 2 || !strings.Contains(stderr, "no image for platform linux/s390x") || !strings.Contains(stderr, "linux/arm64") {
			t.Errorf("exit %d, stderr %q; want 2 and a message naming the platform and those available", code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("output file written despite the error")
		}
	})
}

// TestSBOMWarmCacheFetchesNothing counts what reaches the registry.
func TestSBOMWarmCacheFetchesNothing(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	digest := push(t, reg.Host+"/goapp:1.0", testimage.Image(t, "amd64", goappBinary(t)), nil)
	var requests, blobs atomic.Int64
	u, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if strings.Contains(r.URL.Path, "/blobs/") {
			blobs.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	env := cacheEnv(t)

	byDigest := host + "/goapp@" + digest.String()
	for i, want := range []bool{true, false} {
		requests.Store(0)
		blobs.Store(0)
		if _, stderr, code := customs(t, env, "sbom", byDigest, "-o", "table"); code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, stderr)
		}
		if got := requests.Load() > 0; got != want {
			t.Errorf("run %d by digest: %d requests to the registry, want any: %v", i, requests.Load(), want)
		}
	}
	blobs.Store(0)
	if _, stderr, code := customs(t, env, "sbom", host+"/goapp:1.0", "-o", "table"); code != 0 {
		t.Fatalf("by tag: exit %d\n%s", code, stderr)
	}
	if n := blobs.Load(); n != 0 {
		t.Errorf("warm run by tag fetched %d blobs, want 0 (only the tag is resolved)", n)
	}
}
