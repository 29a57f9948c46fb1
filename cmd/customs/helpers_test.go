package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// customs runs the CLI in-process with the given environment and returns
// stdout, stderr and the exit code.
func customs(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "HOME", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS":
			return os.Getenv(k)
		}
		return ""
	}
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, getenv)
	code := exitCode(err, &stderr)
	return stdout.String(), stderr.String(), code
}

// cacheEnv gives a test its own cache.
func cacheEnv(t *testing.T) map[string]string {
	return map[string]string{"CUSTOMS_CACHE": t.TempDir()}
}

var (
	binOnce sync.Once
	binData []byte
)

// goappBinary builds testdata/goapp once per test binary.
func goappBinary(t *testing.T) []byte {
	binOnce.Do(func() { binData = testimage.GoBinary(t, "amd64") })
	if binData == nil {
		t.Fatal("building testdata/goapp failed in an earlier test")
	}
	return binData
}

// syftDoc is the part of a syft JSON document the tests read.
type syftDoc struct {
	Artifacts []struct {
		Name      string
		Version   string
		Type      string
		Locations []struct {
			Path    string
			LayerID string `json:"layerID"`
		}
	}
	Source struct {
		Name     string
		Version  string
		Metadata struct {
			ManifestDigest string   `json:"manifestDigest"`
			RepoDigests    []string `json:"repoDigests"`
			Architecture   string   `json:"architecture"`
		}
	}
}

func readSyft(t *testing.T, path string) syftDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d syftDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return d
}

// packageSet lists "type name@version", sorted.
func (d syftDoc) packageSet() []string {
	var s []string
	for _, a := range d.Artifacts {
		s = append(s, a.Type+" "+a.Name+"@"+a.Version)
	}
	sort.Strings(s)
	return s
}

func (d syftDoc) version(name string) string {
	for _, a := range d.Artifacts {
		if a.Name == name {
			return a.Version
		}
	}
	return ""
}
