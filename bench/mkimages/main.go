// Command mkimages writes the benchmarks' images as `docker save`
// tarballs with gzip layers, for running customs and its peers by hand:
//
//	go run ./bench/mkimages debian /tmp/debian.tar
//	go run ./bench/mkimages minbase /tmp/minbase-go.tar /tmp/goapp
//	go run ./bench/mkimages scratch /tmp/scratch-go.tar /tmp/goapp
//
// debian is about 100 MB of this machine's Debian files; minbase is what
// debootstrap's minbase variant installs, from this machine's files;
// scratch has no files but the executable. The executable, when given,
// is added as /usr/local/bin/goapp in a layer of its own.
package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/customs-dev/customs/bench/images"
)

const usage = "usage: mkimages debian|minbase|scratch OUT.tar [EXECUTABLE]"

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	bin := ""
	if len(os.Args) == 4 {
		bin = os.Args[3]
	}
	if err := write(os.Args[1], os.Args[2], bin); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(2)
	}
}

func write(kind, out, bin string) error {
	tmp, err := os.MkdirTemp("", "mkimages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var img v1.Image
	switch kind {
	case "debian":
		img, err = images.Debian(tmp, 100<<20)
	case "minbase":
		img, err = images.Minbase(tmp)
	case "scratch":
		img = empty.Image
	default:
		return fmt.Errorf("unknown image %q; %s", kind, usage)
	}
	if err != nil {
		return err
	}
	if bin != "" {
		if img, err = withExecutable(img, bin); err != nil {
			return err
		}
	}
	tag, _ := name.NewTag("bench/" + kind + ":1")
	return tarball.WriteToFile(out, tag, img)
}

// withExecutable adds the file bin as /usr/local/bin/goapp, mode 0755, in
// a layer of its own.
func withExecutable(img v1.Image, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "usr/local/bin/goapp", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		return nil, err
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	return mutate.ConfigFile(img, cf)
}
