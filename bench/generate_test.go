package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
)

// BenchmarkGenerate runs pull and sbom in-process on the Debian-based
// image with an empty cache each time, for profiling:
//
//	go test ./bench -run XXX -bench Generate -benchtime 1x -cpuprofile cpu.out
//
// CUSTOMS_BENCH_ARCHIVE names another docker-archive (one of mkimages');
// CUSTOMS_BENCH_MATCHING=1 makes the SBOM a scan makes, for matching only.
func BenchmarkGenerate(b *testing.B) {
	dir := b.TempDir()
	archive := os.Getenv("CUSTOMS_BENCH_ARCHIVE")
	if archive == "" {
		archive = filepath.Join(dir, "debian.tar")
		img := debianImage(b, 100<<20)
		tag, _ := name.NewTag("bench/debian:1")
		if err := tarball.WriteToFile(archive, tag, img); err != nil {
			b.Fatal(err)
		}
	}
	opts := sbom.Options{ForMatching: os.Getenv("CUSTOMS_BENCH_MATCHING") == "1"}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cache, _ := os.MkdirTemp(dir, "cache-")
		store, _ := cas.Open(cache)
		a, err := pull.Fetch(ctx, pull.Target{Kind: pull.DockerArchive, Ref: archive, Input: "docker-archive:" + archive}, pull.Options{Cache: store})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sbom.Generate(ctx, a, opts); err != nil {
			b.Fatal(err)
		}
		a.Close()
		os.RemoveAll(cache)
	}
}
