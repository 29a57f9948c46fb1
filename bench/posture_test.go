package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/customs-dev/customs/bench/images"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/posture"
)

// BenchmarkPosture measures what the posture checks add to a cold scan of
// the Debian image of about 100 MB (with a Go binary on top): the same
// scan with --posture (the default) and with --posture=false, each with an
// empty cache. The target is under 20%: the checks read the layers as the
// SBOM's reader streams them instead of reading the image again.
func BenchmarkPosture(b *testing.B) {
	dir := b.TempDir()
	db := benchDB(b, dir)
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	deb, err := images.Debian(b.TempDir(), 100<<20)
	if err != nil {
		b.Skip(err)
	}
	app, _ := testimage.Image(b, "amd64", testimage.GoBinary(b, "amd64")).Layers()
	img, err := mutate.AppendLayers(deb, app[len(app)-1])
	if err != nil {
		b.Fatal(err)
	}
	archive := filepath.Join(dir, "debian-go.tar")
	writeArchive(b, img, archive)
	args := []string{"scan", "docker-archive:" + archive, "--db", db, "-o", "json", "--fail-on", "critical", "--unknown-severity", "pass", "--db-warn-age", "0"}

	// The checks must have read no layer by themselves: every layer
	// passed through the SBOM's reader.
	out, err := exec.Command(customs, append(append([]string(nil), args...), "--cache-dir", filepath.Join(dir, "probe"))...).Output()
	var rep struct {
		Posture struct {
			ReadAlone int `json:"read_alone"`
			Layers    int `json:"layers"`
		} `json:"posture"`
	}
	if json.Unmarshal(out, &rep) != nil {
		b.Fatalf("the scan's report does not parse: %v\n%.500s", err, out)
	}
	fmt.Printf("posture read %d of %d layers by itself\n", rep.Posture.ReadAlone, rep.Posture.Layers)
	results := map[string]result{}
	for _, mode := range []string{"posture-off", "posture-on"} {
		measure(b, results, mode, func(b *testing.B, i int) result {
			cache := filepath.Join(dir, fmt.Sprintf("cold-%s-%d-%d", mode, b.N, i))
			defer os.RemoveAll(cache)
			a := append(append([]string(nil), args...), "--posture="+fmt.Sprint(mode == "posture-on"))
			return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, a...)
		})
	}
	off, on := results["posture-off"], results["posture-on"]
	if off.wall > 0 {
		fmt.Printf("\ncold scan of debian-100MB+go: posture off %s (%.0f MiB), on %s (%.0f MiB): +%.1f%% wall\n",
			off.wall, float64(off.maxRSS)/(1<<20), on.wall, float64(on.maxRSS)/(1<<20), 100*(float64(on.wall)/float64(off.wall)-1))
	}
}

// BenchmarkPostureChecks is the checks' own cost on the Debian image's
// layer (read uncompressed from a file, so decompression is left out),
// beside draining the same layer unchecked.
func BenchmarkPostureChecks(b *testing.B) {
	deb, err := images.Debian(b.TempDir(), 100<<20)
	if err != nil {
		b.Skip(err)
	}
	b.Run("drain", func(b *testing.B) {
		for b.Loop() {
			ls, _ := deb.Layers()
			for _, l := range ls {
				rc, err := l.Uncompressed()
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		}
	})
	b.Run("checks", func(b *testing.B) {
		for b.Loop() {
			if _, err := posture.NewScanner(deb, "").Report(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
