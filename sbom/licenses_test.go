package sbom

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/customs-dev/customs/pull"
	"github.com/google/licensecheck"
)

// TestLicenseLinknames checks that the syft functions licenses.go binds by
// name still have the signatures it declares for them: a mismatch would
// not fail to link, it would corrupt memory.
func TestLicenseLinknames(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/anchore/syft").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("finding syft's source: %v (%s)", err, out)
	}
	fset := token.NewFileSet()
	sources, err := filepath.Glob(filepath.Join(mod.Dir, "internal", "licenses", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	decls := map[string]string{}
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, src, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			var node any
			var name string
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil {
					continue
				}
				name, node = d.Name.Name, d.Type
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok {
						var b strings.Builder
						printer.Fprint(&b, fset, ts.Type)
						decls[ts.Name.Name] = b.String()
					}
				}
				continue
			default:
				continue
			}
			var b strings.Builder
			printer.Fprint(&b, fset, node)
			decls[name] = b.String()
		}
	}
	want := map[string]string{
		"NewScanner":               "func(c *ScannerConfig) (Scanner, error)",
		"SetContextLicenseScanner": "func(ctx context.Context, s Scanner) context.Context",
		"ScannerConfig":            "struct {\n\tCoverageThreshold\tfloat64\n\tScanner\t\t\tfunc([]byte) licensecheck.Coverage\n}",
	}
	for name, sig := range want {
		if decls[name] != sig {
			t.Errorf("syft %s internal/licenses.%s is\n%s\nbut sbom/licenses.go binds it as\n%s\nupdate licenses.go", mod.Version, name, decls[name], sig)
		}
	}
	if !strings.HasPrefix(decls["Scanner"], "interface {") || strings.Count(decls["Scanner"], "(") == 0 {
		t.Errorf("syft internal/licenses.Scanner is no longer a non-empty interface: %s", decls["Scanner"])
	}
}

// TestMatchingSkipsLicenses checks that an SBOM for matching, whose license
// scanner is the bound no-op one, still catalogs packages that come with
// license files (so the scanner is called and does not crash) and records
// no license it would have had to recognize, while the full SBOM does.
func TestMatchingSkipsLicenses(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "site-packages", "leftpad-1.3.0.dist-info")
	os.MkdirAll(info, 0o755)
	os.WriteFile(filepath.Join(info, "METADATA"), []byte("Metadata-Version: 2.1\nName: leftpad\nVersion: 1.3.0\n"), 0o644)
	os.WriteFile(filepath.Join(info, "RECORD"), []byte("leftpad-1.3.0.dist-info/METADATA,,\nleftpad-1.3.0.dist-info/LICENSE,,\n"), 0o644)
	os.WriteFile(filepath.Join(info, "LICENSE"), []byte(mitText), 0o644)
	ctx := context.Background()
	a, err := pull.Fetch(ctx, pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	licenses := func(opts Options) (int, []string) {
		s, err := Generate(ctx, a, opts)
		if err != nil {
			t.Fatal(err)
		}
		n, l := 0, []string(nil)
		for p := range s.Artifacts.Packages.Enumerate() {
			n++
			for _, lic := range p.Licenses.ToSlice() {
				l = append(l, lic.SPDXExpression)
			}
		}
		return n, l
	}
	if n, l := licenses(Options{}); n != 1 || !slices.Contains(l, "MIT") {
		t.Fatalf("full SBOM: %d packages, licenses %q; want 1 package with its MIT license", n, l)
	}
	// syft keeps a license file it recognizes nothing in as a content hash.
	if n, l := licenses(Options{ForMatching: true}); n != 1 || slices.Contains(l, "MIT") {
		t.Fatalf("matching SBOM: %d packages, licenses %q; want 1 package and no license recognized", n, l)
	}
}

const mitText = `MIT License

Copyright (c) 2016 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`

// TestStoredClassifier: the license classifier customs reads from
// third_party/licensecheck's stored form is the one licensecheck compiles
// from its built-in licenses, and classifies a license text the same.
func TestStoredClassifier(t *testing.T) {
	stored, err := licensecheck.NewBuiltinScanner()
	if err != nil {
		t.Fatal(err)
	}
	built, err := licensecheck.NewScanner(licensecheck.BuiltinLicenses())
	if err != nil {
		t.Fatal(err)
	}
	if !licensecheck.SameScanner(stored, built) {
		t.Fatal("the stored classifier differs from the compiled one: run go generate in third_party/licensecheck")
	}
	text := []byte("Permission is hereby granted, free of charge, to any person obtaining a copy of this software " +
		"and associated documentation files (the \"Software\"), to deal in the Software without restriction, including " +
		"without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies " +
		"of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following " +
		"conditions:\n\nThe above copyright notice and this permission notice shall be included in all copies or " +
		"substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, " +
		"EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR " +
		"PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, " +
		"DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN " +
		"CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n")
	a, b := stored.Scan(text), built.Scan(text)
	if !reflect.DeepEqual(a, b) || len(a.Match) == 0 || a.Match[0].ID != "MIT" {
		t.Errorf("stored classifier found %+v, compiled %+v", a, b)
	}
}
