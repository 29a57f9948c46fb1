package bench

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/customs-dev/customs/bench/images"
	"github.com/customs-dev/customs/internal/testimage"
)

// benchDB lays out the shared OSV data as both tools read it, plus a
// Debian all.zip with one synthetic record (the shared data has no Debian
// records, and both tools refuse or skip an image whose distribution they
// have no data for). The synthetic record is benchmark load, not a fact.
func benchDB(b *testing.B, dir string) string {
	b.Helper()
	shared := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv")
	db := filepath.Join(dir, "db")
	for _, eco := range []string{"Go", "PyPI"} {
		src, err := os.ReadFile(filepath.Join(shared, eco, "all.zip"))
		if err != nil {
			b.Skipf("skipping: shared OSV data absent: %v", err)
		}
		for _, d := range []string{filepath.Join(db, eco), filepath.Join(db, "osv-scanner", eco)} {
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "all.zip"), src, 0o644)
		}
	}
	for _, d := range []string{filepath.Join(db, "Debian"), filepath.Join(db, "osv-scanner", "Debian")} {
		os.MkdirAll(d, 0o755)
		f, _ := os.Create(filepath.Join(d, "all.zip"))
		zw := zip.NewWriter(f)
		w, _ := zw.Create("BENCH-0001.json")
		w.Write([]byte(`{"id":"BENCH-0001","modified":"2026-11-01T00:00:00Z","summary":"synthetic benchmark record","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:9.9-1"}]}]}]}`))
		zw.Close()
		f.Close()
	}
	return db
}

// fixture is what BenchmarkScan and BenchmarkReachability scan: the data
// in both tools' layouts (db) and as customs installs it (installed), a
// customs built from this tree, the fixture Go binary in a directory, a
// Debian-based image tarball of about 100 MB with that binary in it, and
// the two images of issue 27: that binary alone in a scratch image, and on
// a Debian minbase root filesystem. Every archive is a `docker save`
// tarball with gzip layers.
type fixture struct {
	db, customs, installed, binDir, archive string
	scratch, minbase                        string
}

func scanFixture(b *testing.B, dir string) fixture {
	b.Helper()
	db := benchDB(b, dir)
	customs := filepath.Join(dir, "customs")
	buildCustoms(b, customs)
	// customs reads the same data as its users install it, with `customs
	// db import`, which stores each zip's index beside it; the osv-scanner
	// layout, never indexed, is what a first scan after a database change
	// reads.
	installed := filepath.Join(dir, "customs-db")
	runTool(b, []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "c0")}, customs, "db", "import", "--db", installed, db)
	bin := testimage.GoBinary(b, "amd64")
	binDir := filepath.Join(dir, "bin")
	os.MkdirAll(binDir, 0o755)
	os.WriteFile(filepath.Join(binDir, "goapp"), bin, 0o755)

	deb, err := images.Debian(b.TempDir(), 100<<20)
	if err != nil {
		b.Skip(err)
	}
	app, _ := testimage.Image(b, "amd64", bin).Layers()
	img, err := mutate.AppendLayers(deb, app[len(app)-1])
	if err != nil {
		b.Fatal(err)
	}
	archive := filepath.Join(dir, "debian-go.tar")
	writeArchive(b, img, archive)

	scratch, minbase := filepath.Join(dir, "scratch-go.tar"), filepath.Join(dir, "minbase-go.tar")
	writeSmallImages(b, bin, scratch, minbase)
	return fixture{db: db, customs: customs, installed: installed, binDir: binDir, archive: archive, scratch: scratch, minbase: minbase}
}

// BenchmarkScan compares customs scan and osv-scanner v2.4.0 offline on
// the same inputs and data: a Go binary, a Debian-based image tarball of
// about 100 MB with that binary in it, and a CycloneDX SBOM.
func BenchmarkScan(b *testing.B) {
	osv := os.Getenv("OSV_SCANNER")
	if osv == "" {
		osv, _ = exec.LookPath("osv-scanner")
	}
	if osv == "" {
		b.Skip("skipping: set OSV_SCANNER to an osv-scanner v2.4.0 binary (see bench/README.md)")
	}
	dir := b.TempDir()
	fx := scanFixture(b, dir)
	db, customs, installed, binDir, archive := fx.db, fx.customs, fx.installed, fx.binDir, fx.archive

	sbomDir := filepath.Join(dir, "sbom")
	os.MkdirAll(sbomDir, 0o755)
	cdx := filepath.Join(sbomDir, "goapp.cdx.json")
	runTool(b, []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "c0")}, customs, "sbom", "dir:"+binDir, "-o", "cyclonedx-json="+cdx)

	inputs := []struct {
		name    string
		customs []string
		osv     []string
	}{
		{"go-binary", []string{"dir:" + binDir}, []string{"scan", "source", "--experimental-plugins", "go/binary", "-r", binDir}},
		{"debian-image-100MB", []string{"docker-archive:" + archive}, []string{"scan", "image", "--archive", archive}},
		{"scratch-go-image", []string{"docker-archive:" + fx.scratch}, []string{"scan", "image", "--archive", fx.scratch}},
		{"minbase-go-image", []string{"docker-archive:" + fx.minbase}, []string{"scan", "image", "--archive", fx.minbase}},
		{"cyclonedx-sbom", []string{"sbom:" + cdx}, []string{"scan", "source", "-r", sbomDir}},
	}
	results := map[string]result{}
	var names, agreement []string
	for _, in := range inputs {
		args := func(db, output string) []string {
			a := append([]string{"scan"}, in.customs...)
			return append(a, "--db", db, "-o", output, "--fail-on", "critical", "--unknown-severity", "pass", "--db-warn-age", "0")
		}
		customsArgs := args(installed, "json")
		osvArgs := append(in.osv, "--offline-vulnerabilities", "--local-db-path", db, "--format", "json")
		tools := []struct {
			name string
			run  func(b *testing.B, i int) result
		}{
			{"osv-scanner", func(b *testing.B, i int) result { return runToolAllowFail(b, nil, osv, osvArgs...) }},
			{"customs-cold", func(b *testing.B, i int) result {
				cache := filepath.Join(dir, fmt.Sprintf("cold-%s-%d-%d", in.name, b.N, i))
				defer os.RemoveAll(cache)
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, customsArgs...)
			}},
			{"customs-new-db", func(b *testing.B, i int) result {
				cache := filepath.Join(dir, fmt.Sprintf("new-db-%s-%d-%d", in.name, b.N, i))
				defer os.RemoveAll(cache)
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, args(db, "json")...)
			}},
			{"customs-warm", func(b *testing.B, i int) result {
				cache := filepath.Join(dir, "warm-"+in.name)
				if _, err := os.Stat(cache); err != nil {
					runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, customsArgs...)
				}
				return runTool(b, []string{"CUSTOMS_CACHE=" + cache}, customs, customsArgs...)
			}},
		}
		for _, tool := range tools {
			key := in.name + "/" + tool.name
			names = append(names, key)
			measure(b, results, key, tool.run)
		}
		// The same findings, or the times mean nothing.
		osvOut, customsOut := filepath.Join(dir, in.name+".osv.json"), filepath.Join(dir, in.name+".customs.json")
		runToolAllowFail(b, nil, osv, append(append([]string(nil), osvArgs...), "--output", osvOut)...)
		runTool(b, []string{"CUSTOMS_CACHE=" + filepath.Join(dir, "c0")}, customs, args(installed, "json="+customsOut)...)
		same, diff := sameFindings(b, osvOut, customsOut)
		agreement = append(agreement, fmt.Sprintf("%s: %d (package, ID) pairs, %s", in.name, same, diff))
	}
	sort.Strings(names)
	var sum strings.Builder
	fmt.Fprintf(&sum, "\n%-36s %10s %12s\n", "run", "wall", "peak RSS")
	for _, n := range names {
		r := results[n]
		fmt.Fprintf(&sum, "%-36s %10s %9.0f MiB\n", n, r.wall.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
	}
	for _, in := range inputs {
		o, c, n, w := results[in.name+"/osv-scanner"], results[in.name+"/customs-cold"], results[in.name+"/customs-new-db"], results[in.name+"/customs-warm"]
		if c.wall > 0 && n.wall > 0 && w.wall > 0 {
			fmt.Fprintf(&sum, "%s: customs over osv-scanner: wall cold %.2f, new-db %.2f, warm %.3f; peak RSS cold %.2f\n",
				in.name, float64(c.wall)/float64(o.wall), float64(n.wall)/float64(o.wall), float64(w.wall)/float64(o.wall),
				float64(c.maxRSS)/float64(o.maxRSS))
		}

	}
	for _, a := range agreement {
		fmt.Fprintln(&sum, a)
	}
	fmt.Println(sum.String())
}

// sameFindings compares the (package, version, ID) triples of
// osv-scanner's and customs' JSON reports; a difference fails the
// benchmark.
func sameFindings(b *testing.B, osvJSON, customsJSON string) (int, string) {
	b.Helper()
	var o struct {
		Results []struct {
			Packages []struct {
				Package struct {
					Name, Version, Ecosystem string
				}
				Vulnerabilities []struct{ ID string }
			}
		}
	}
	var c struct {
		Findings []struct {
			IDs     []string
			Package struct {
				Name, Version, Ecosystem string
			}
		}
	}
	for _, f := range []struct {
		path string
		v    any
	}{{osvJSON, &o}, {customsJSON, &c}} {
		raw, err := os.ReadFile(f.path)
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(raw, f.v); err != nil {
			b.Fatalf("%s: %v", f.path, err)
		}
	}
	// Versions as each tool prints them: osv-scanner keeps a CycloneDX
	// package URL's "v" on Go versions, customs prints them as the binary
	// does.
	pair := func(eco, name, version, id string) string {
		eco, _, _ = strings.Cut(eco, ":")
		if eco == "Go" {
			version = strings.TrimPrefix(version, "v")
		}
		return eco + "/" + name + "@" + version + " " + id
	}
	var want, got []string
	for _, r := range o.Results {
		for _, p := range r.Packages {
			for _, v := range p.Vulnerabilities {
				want = append(want, pair(p.Package.Ecosystem, p.Package.Name, p.Package.Version, v.ID))
			}
		}
	}
	for _, f := range c.Findings {
		for _, id := range f.IDs {
			got = append(got, pair(f.Package.Ecosystem, f.Package.Name, f.Package.Version, id))
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	want, got = slices.Compact(want), slices.Compact(got)
	if !slices.Equal(want, got) {
		b.Errorf("customs and osv-scanner disagree:\nonly osv-scanner's: %v\nonly customs':      %v", minus(want, got), minus(got, want))
		return len(got), "DIFFERENT from osv-scanner's"
	}
	return len(got), "the same as osv-scanner's"
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
