package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
)

// moduleDir finds a dependency's directory in the module cache, where the
// format schemas are published.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", mod).Output()
	if err != nil {
		t.Skipf("skipping: go list -m %s: %v", mod, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Skipf("skipping: %s is not in the module cache (go mod download %s)", mod, mod)
	}
	return m.Dir
}

func compile(t *testing.T, main string, resources map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for url, file := range resources {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("parsing %s: %v", file, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(main)
	if err != nil {
		t.Fatalf("compiling %s: %v", main, err)
	}
	return s
}

type pullSBOM struct{ s *syftsbom.SBOM }

func testSBOM(t *testing.T) *pullSBOM {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	testimage.WriteLayout(t, dir, testimage.Image(t, "amd64", nil), nil, "1.0")
	store, _ := cas.Open(t.TempDir())
	a, err := pull.Fetch(context.Background(), pull.Target{Kind: pull.OCILayout, Ref: dir, Input: "oci:" + dir}, pull.Options{Cache: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	s, err := Generate(context.Background(), a, Options{ToolVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &pullSBOM{s}
}

func validate(t *testing.T, schema *jsonschema.Schema, doc []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(v); err != nil {
		t.Errorf("output does not validate:\n%v", err)
	}
}

func TestCycloneDXValidatesAgainst16Schema(t *testing.T) {
	dir := filepath.Join(moduleDir(t, "github.com/CycloneDX/cyclonedx-go"), "schema")
	schema := compile(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  filepath.Join(dir, "bom-1.6.schema.json"),
		"http://cyclonedx.org/schema/spdx.schema.json":     filepath.Join(dir, "spdx.schema.json"),
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": filepath.Join(dir, "jsf-0.82.schemax.json"),
	})
	var buf bytes.Buffer
	if err := Encode(&buf, testSBOM(t).s, "cyclonedx-json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"specVersion": "1.6"`) {
		t.Errorf("not CycloneDX 1.6: %.200s", buf.String())
	}
	validate(t, schema, buf.Bytes())
}

func TestSPDXValidatesAgainst23Schema(t *testing.T) {
	file := filepath.Join(moduleDir(t, "github.com/anchore/syft"), "schema", "spdx-json", "spdx-schema-2.3.json")
	schema := compile(t, "file:///spdx-2.3.json", map[string]string{"file:///spdx-2.3.json": file})
	var buf bytes.Buffer
	if err := Encode(&buf, testSBOM(t).s, "spdx-json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"spdxVersion": "SPDX-2.3"`) {
		t.Errorf("not SPDX 2.3: %.200s", buf.String())
	}
	validate(t, schema, buf.Bytes())
}

// TestRoundTrip decodes what Encode writes, in every machine format.
func TestRoundTrip(t *testing.T) {
	s := testSBOM(t).s
	want := s.Artifacts.Packages.PackageCount()
	for _, f := range []string{"cyclonedx-json", "spdx-json", "syft-json"} {
		var buf bytes.Buffer
		if err := Encode(&buf, s, f); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(&buf)
		if err != nil {
			t.Fatalf("Decode(%s): %v", f, err)
		}
		if n := got.Artifacts.Packages.PackageCount(); n != want {
			t.Errorf("Decode(Encode(%s)) has %d packages, want %d", f, n, want)
		}
	}
}
