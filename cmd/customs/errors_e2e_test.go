package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/customs-dev/customs/internal/goproxytest"
	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestSBOMBadInput checks that every kind of bad input exits 2 with a
// message naming the target and the problem, and leaves no output file.
func TestSBOMBadInput(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	authReg := registrytest.Start(t, registrytest.Options{User: "alice", Password: "s3cret-pass"})
	img := testimage.Image(t, "amd64", nil)

	// A manifest whose config says it is a Helm chart, not an image.
	chart := mutate.ConfigMediaType(img, "application/vnd.cncf.helm.config.v1+json")
	push(t, reg.Host+"/chart:1.0", chart, nil)
	// The authenticated registry has the image, but the test has no credentials.
	ref, _ := name.ParseReference(authReg.Host + "/private:1.0")
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret-pass"})); err != nil {
		t.Fatalf("pushing with credentials: %v", err)
	}

	dir := t.TempDir()
	archive := filepath.Join(dir, "docker.tar")
	testimage.WriteDockerArchive(t, img, archive, false)
	whole, _ := os.ReadFile(archive)
	truncated := filepath.Join(dir, "truncated.tar")
	os.WriteFile(truncated, whole[:len(whole)/2], 0o644)
	garbage := filepath.Join(dir, "garbage.tar")
	os.WriteFile(garbage, []byte(strings.Repeat("not a tarball\n", 100)), 0o644)

	// An OCI layout whose layer blob was replaced after the manifest was written.
	tampered := filepath.Join(dir, "tampered")
	testimage.WriteLayout(t, tampered, img, nil, "1.0")
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	os.WriteFile(filepath.Join(tampered, "blobs", "sha256", ld.Hex), []byte("evil layer"), 0o644)

	// A docker-archive whose layer blob is not what its name, the digest
	// customs takes from it, says.
	lying := filepath.Join(dir, "lying.tar")
	swapLayers(t, archive, lying)

	proxy := goproxytest.Start(t, goproxytest.Module{Path: "example.com/lib", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/lib\n\ngo 1.21\n", "lib.go": "package lib\n"}})
	proxy.Tamper["example.com/lib@v1.0.0"] = map[string]string{
		"go.mod": "module example.com/lib\n\ngo 1.21\n", "lib.go": "package lib\n\nfunc init() { /* phone home */ }\n"}

	for _, tc := range []struct {
		name   string
		target string
		want   []string
	}{
		{"nonexistent image", reg.Host + "/nothere:1.0", []string{"nothere", "no such image"}},
		{"unknown transport", "nosuch:/tmp/x", []string{"nosuch", "unknown transport"}},
		{"unreachable registry", "127.0.0.1:1/app:1.0", []string{"127.0.0.1:1/app:1.0", "cannot reach the registry"}},
		{"401 from the registry", authReg.Host + "/private:1.0", []string{"private", "refused access", "docker login"}},
		{"truncated tarball", "docker-archive:" + truncated, []string{truncated, "truncated"}},
		{"corrupt tarball", "docker-archive:" + garbage, []string{garbage, "not a tar"}},
		{"layer digest mismatch", "oci:" + tampered, []string{tampered, "digest mismatch"}},
		{"archive blob named by another digest", "docker-archive:" + lying, []string{lying, "digest mismatch"}},
		{"manifest that is not an image", reg.Host + "/chart:1.0", []string{"chart", "not a container image"}},
		{"module that does not exist", "gomod:example.com/nothere@v1.0.0", []string{"example.com/nothere@v1.0.0", "not found"}},
		{"tampered module", "gomod:example.com/lib@v1.0.0", []string{"example.com/lib@v1.0.0", "checksum mismatch", "SECURITY ERROR"}},
		{"module without version", "gomod:example.com/nothere", []string{"names no version"}},
		{"missing sbom file", "sbom:" + filepath.Join(dir, "none.json"), []string{"none.json", "no such file"}},
		{"sbom file that is not an SBOM", "sbom:" + garbage, []string{garbage, "SBOM"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := cacheEnv(t)
			env["GOPROXY"], env["GOSUMDB"] = proxy.URL, proxy.GOSUMDB
			out := filepath.Join(t.TempDir(), "out.cdx.json")
			_, stderr, code := customs(t, env, "sbom", tc.target, "-o", "cyclonedx-json="+out)
			if code != 2 {
				t.Errorf("customs sbom %s: exit %d, want 2\n%s", tc.target, code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("customs sbom %s: stderr %q does not mention %q", tc.target, stderr, w)
				}
			}
			if strings.Contains(stderr, "s3cret-pass") {
				t.Errorf("stderr leaks the registry password: %q", stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("customs sbom %s: output file written despite the error", tc.target)
			}
		})
	}
}

// TestSBOMCorruptCacheIsRefetched corrupts every cached blob and SBOM and
// checks that the next run detects it and gives the same answer.
func TestSBOMCorruptCacheIsRefetched(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	push(t, reg.Host+"/goapp:1.0", testimage.Image(t, "amd64", goappBinary(t)), nil)
	env := cacheEnv(t)
	first := filepath.Join(t.TempDir(), "first.json")
	if _, stderr, code := customs(t, env, "sbom", reg.Host+"/goapp:1.0", "-o", "syft-json="+first); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	n := 0
	filepath.Walk(env["CUSTOMS_CACHE"], func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && (strings.Contains(p, "blobs") || strings.Contains(p, "sbom")) {
			os.WriteFile(p, []byte("corrupted"), 0o644)
			n++
		}
		return nil
	})
	if n < 4 {
		t.Fatalf("corrupted %d cache files, expected blobs and an SBOM", n)
	}
	second := filepath.Join(t.TempDir(), "second.json")
	if _, stderr, code := customs(t, env, "sbom", reg.Host+"/goapp:1.0", "-o", "syft-json="+second); code != 0 {
		t.Fatalf("run on a corrupt cache: exit %d\n%s", code, stderr)
	}
	a, b := readSyft(t, first), readSyft(t, second)
	if strings.Join(a.packageSet(), "\n") != strings.Join(b.packageSet(), "\n") {
		t.Errorf("packages differ after refetching corrupt cache entries")
	}
}

// swapLayers copies the docker-archive in to out with the content of each
// HEX.tar.gz layer blob replaced by another gzip-compressed tar.
func swapLayers(t *testing.T, in, out string) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evil bytes.Buffer
	zw := gzip.NewWriter(&evil)
	etw := tar.NewWriter(zw)
	etw.WriteHeader(&tar.Header{Name: "etc/evil", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
	etw.Write([]byte("evil"))
	etw.Close()
	zw.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(f)
	swapped := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if strings.HasSuffix(hdr.Name, ".tar.gz") {
			body = evil.Bytes()
			swapped++
		}
		hdr.Size = int64(len(body))
		tw.WriteHeader(hdr)
		tw.Write(body)
	}
	tw.Close()
	if swapped == 0 {
		t.Fatalf("%s has no HEX.tar.gz layer to swap", in)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
