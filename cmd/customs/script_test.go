package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/customs-dev/customs/internal/testimage"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"customs": func() { os.Exit(mainCode()) },
	})
}

// TestScripts runs the CLI end to end from testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("CUSTOMS_CACHE", e.WorkDir+"/.cache")
			e.Setenv("DEMO_DB", filepath.Join(testimage.Root(), "testdata", "osv-demo"))
			// caps analyzes Go code with the go command: the build cache is
			// shared, the module cache is the script's own, and nothing is
			// fetched.
			e.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
			e.Setenv("GOPATH", e.WorkDir+"/.gopath")
			e.Setenv("GOPROXY", "off")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
			"mkimage":  cmdMkimage,
			"zipdir":   cmdZipdir,
			"freeport": cmdFreeport,
			"http":     cmdHTTP,
		},
	})
}

// exitcode N CMD [ARGS...] runs CMD as exec does and wants exit code N,
// which "! exec" cannot tell apart from any other failure.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N CMD [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	var ee *exec.ExitError
	if err := ts.Exec(args[1], args[2:]...); errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// mkimage ROOTFS oci:DIR[:TAG] | docker-archive:FILE writes a linux/amd64
// image of one layer holding the files under ROOTFS.
func cmdMkimage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkimage ROOTFS oci:DIR[:TAG]|docker-archive:FILE")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	root := ts.MkAbs(args[0])
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.Name, h.ModTime = filepath.ToSlash(rel), time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil || !fi.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			_, err = tw.Write(b)
		}
		return err
	})
	ts.Check(err)
	ts.Check(tw.Close())
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	ts.Check(err)
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "COPY rootfs /"}})
	ts.Check(err)
	cfg, err := img.ConfigFile()
	ts.Check(err)
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Config.User = "linux", "amd64", "1000"
	img, err = mutate.ConfigFile(img, cfg)
	ts.Check(err)

	transport, path, _ := strings.Cut(args[1], ":")
	switch transport {
	case "oci":
		dir, tag, _ := strings.Cut(path, ":")
		p, err := layout.Write(ts.MkAbs(dir), empty.Index)
		ts.Check(err)
		var opts []layout.Option
		if tag != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
		}
		ts.Check(p.AppendImage(img, opts...))
	case "docker-archive":
		tag, err := name.NewTag("example.com/app:1.0")
		ts.Check(err)
		ts.Check(tarball.WriteToFile(ts.MkAbs(path), tag, img))
	default:
		ts.Fatalf("mkimage: unknown transport %q", transport)
	}
}

// zipdir DIR FILE writes the files directly in DIR into the zip FILE, as
// the OSV project's all.zip holds its records.
func cmdZipdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: zipdir DIR FILE")
	}
	entries, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(ts.MkAbs(args[0]), e.Name()))
		ts.Check(err)
		w, err := zw.Create(e.Name())
		ts.Check(err)
		_, err = w.Write(b)
		ts.Check(err)
	}
	ts.Check(zw.Close())
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), buf.Bytes(), 0o644))
}

// freeport VAR sets VAR to a loopback port that was free a moment ago, for
// a server the script starts in the background.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	ts.Check(l.Close())
	ts.Setenv(args[0], port)
}

// http METHOD URL [BODY] asks a server the script started, retrying for
// a while until it listens, and prints the status code and the body on
// stdout.
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: http METHOD URL [BODY]")
	}
	var body string
	if len(args) == 3 {
		body = args[2]
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, err := http.NewRequest(args[0], args[1], strings.NewReader(body))
		ts.Check(err)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if time.Now().After(deadline) {
				ts.Fatalf("http: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "%d\n%s", resp.StatusCode, b)
		return
	}
}
