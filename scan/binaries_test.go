package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
)

// TestCapabilitiesOfExecutables holds the Go executables of an image and
// of a directory against a declaration: the dependency's undeclared EXEC
// and NETWORK/CONNECT fail the scan, and the analysis is cached.
func TestCapabilitiesOfExecutables(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "root", "usr", "bin", "app"), ".")
	cmd.Dir = filepath.Join(testimage.Root(), "testdata", "trace", "app")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/trace/app: %v\n%s", err, out)
	}
	bin, _ := os.ReadFile(filepath.Join(dir, "root", "usr", "bin", "app"))
	// A file that starts like ELF but is not executable is not read.
	img := testimage.Executables(t, map[string][]byte{"usr/bin/app": bin})
	data, _ := mutate.AppendLayers(img, dataLayer(t))
	img = data
	archive := filepath.Join(dir, "app.tar")
	testimage.WriteDockerArchive(t, img, archive, false)

	decl, err := capabilities.Parse("capabilities.txt", []byte("capabilities 1\nmain ALL\nexample.com/dep FILES\n"))
	if err != nil {
		t.Fatal(err)
	}
	store, _ := cas.Open(filepath.Join(dir, "cache"))
	for _, target := range []pull.Target{
		{Kind: pull.DockerArchive, Ref: archive, Input: "docker-archive:" + archive},
		{Kind: pull.Dir, Ref: filepath.Join(dir, "root"), Input: "dir:" + filepath.Join(dir, "root")},
	} {
		scanner := &Scanner{Cache: store, DB: filepath.Join(testimage.Root(), "testdata", "osv-demo")}
		res, err := scanner.Scan(context.Background(), target, Request{Policy: DefaultPolicy(), Capabilities: decl})
		var perr *PolicyError
		if !errors.As(err, &perr) || res.Capabilities == nil {
			t.Fatalf("%s: %v; want the policy to fail on capabilities", target.Input, err)
		}
		var got []string
		for _, v := range res.Capabilities.Violations {
			got = append(got, v.Module+" "+string(v.Capability))
		}
		if strings.Join(got, ", ") != "example.com/dep EXEC, example.com/dep NETWORK/CONNECT" {
			t.Errorf("%s: violations %q", target.Input, got)
		}
		if !strings.Contains(strings.Join(res.Warnings, "\n"), "compiled Go executables") || !strings.Contains(strings.Join(res.Warnings, "\n"), "usr/bin/app") {
			t.Errorf("%s: warnings %q do not say what was read", target.Input, res.Warnings)
		}
	}
	if _, err := store.Get(binaryKind, sha(bin)); err != nil {
		t.Errorf("the analysis was not cached: %v", err)
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// dataLayer holds a non-executable file that starts like an ELF file.
func dataLayer(t *testing.T) v1.Layer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "usr/bin/data", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
	tw.Write([]byte("\x7fELF"))
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return layer
}
