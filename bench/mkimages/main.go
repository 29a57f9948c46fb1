// Command mkimages writes the benchmark's Debian-based image as a
// `docker save` tarball, for running customs and its peers by hand:
//
//	go run ./bench/mkimages /tmp/debian.tar
package main

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/customs-dev/customs/bench/images"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkimages OUT.tar")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(2)
	}
}

func write(out string) error {
	tmp, err := os.MkdirTemp("", "mkimages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	img, err := images.Debian(tmp, 100<<20)
	if err != nil {
		return err
	}
	tag, _ := name.NewTag("bench/debian:1")
	return tarball.WriteToFile(out, tag, img)
}
