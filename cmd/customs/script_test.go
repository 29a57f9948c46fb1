package main

import (
	"os"
	"path/filepath"
	"testing"

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
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("CUSTOMS_CACHE", e.WorkDir+"/.cache")
			e.Setenv("DEMO_DB", filepath.Join(testimage.Root(), "testdata", "osv-demo"))
			return nil
		},
	})
}
