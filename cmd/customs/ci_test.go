package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/goproxytest"
)

// moduleFiles reads a module's files from a directory of testdata.
func moduleFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSBOMModuleLeavesOutCI checks that the SBOM of a gomod: target lists
// the GitHub Actions of the module's workflows only with --include-ci:
// they are its repository's CI, not code its users import.
func TestSBOMModuleLeavesOutCI(t *testing.T) {
	proxy := goproxytest.Start(t, goproxytest.Module{Path: "example.com/cimod", Version: "v1.0.0", Files: moduleFiles(t, filepath.Join("testdata", "cimod"))})
	env := cacheEnv(t)
	env["GOPROXY"], env["GOSUMDB"] = proxy.URL, proxy.GOSUMDB

	for _, tc := range []struct {
		name   string
		flags  []string
		wantCI bool
	}{
		{"default", nil, false},
		{"include-ci", []string{"--include-ci"}, true},
		{"default again, from the same cache", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sbom.json")
			args := append([]string{"sbom", "gomod:example.com/cimod@v1.0.0", "-o", "syft-json=" + out}, tc.flags...)
			if _, stderr, code := customs(t, env, args...); code != 0 {
				t.Fatalf("customs %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
			}
			var ci []string
			for _, a := range readSyft(t, out).Artifacts {
				if strings.HasPrefix(a.Type, "github-action") {
					ci = append(ci, a.Type+" "+a.Name+"@"+a.Version)
				}
			}
			checkout := false
			for _, p := range ci {
				checkout = checkout || strings.HasPrefix(p, "github-action actions/checkout@")
			}
			switch {
			case !tc.wantCI && len(ci) > 0:
				t.Errorf("customs %s: CI packages listed: %q, want none", strings.Join(args, " "), ci)
			case tc.wantCI && !checkout:
				t.Errorf("customs %s: CI packages %q, want actions/checkout among them", strings.Join(args, " "), ci)
			}
		})
	}
}
