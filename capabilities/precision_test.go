package capabilities

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeModules writes modules, each a directory of files, under one
// temporary directory, and returns its path.
func writeModules(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// only fails unless a module is charged exactly the capabilities named
// (INDIRECT aside, which checks do not hold).
func only(t *testing.T, res *Result, module string, want ...Capability) {
	t.Helper()
	m := res.Module(module)
	if m == nil {
		t.Fatalf("%s is not in the result: %+v", module, res.Modules)
	}
	var got []string
	for _, f := range m.Capabilities {
		if f.Capability != Indirect {
			got = append(got, string(f.Capability)+" "+PathString(f.Path))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s is charged:\n  %s\nwant only %v", module, strings.Join(got, "\n  "), want)
		return
	}
	for i, c := range want {
		if !strings.HasPrefix(got[i], string(c)+" ") {
			t.Errorf("%s is charged:\n  %s\nwant only %v", module, strings.Join(got, "\n  "), want)
			return
		}
	}
}

// TestValueNotInterface is the zstd row of issue 25: a program hands an
// *os.File it opened and an exec.Cmd's stdin pipe to a decoder of another
// module, which writes to them and closes them through io.Writer and
// io.Closer. The decoder does nothing itself: it is charged nothing (its
// calls through values the standard library made are INDIRECT, which
// checks do not hold); the program, which opened the files and started
// the command, is charged for them, directly.
func TestValueNotInterface(t *testing.T) {
	root := writeModules(t, map[string]string{
		"zdec/go.mod": "module example.com/zdec\n\ngo 1.26\n",
		"zdec/zdec.go": `package zdec

import "io"

type Decoder struct{ r io.Reader }

func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

func (d *Decoder) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 512)
	var n int64
	for {
		k, err := d.r.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (d *Decoder) Close(c io.Closer) error { return c.Close() }
`,
		"app/go.mod": "module example.com/app\n\ngo 1.26\n\nrequire example.com/zdec v0.0.0\n\nreplace example.com/zdec => ../zdec\n",
		"app/main.go": `package main

import (
	"os"
	"os/exec"

	"example.com/zdec"
)

func main() {
	in, _ := os.Open("in.zst")
	out, _ := os.Create("out")
	d := zdec.NewDecoder(in)
	d.WriteTo(out)
	d.Close(out)
	cmd := exec.Command("gzip")
	pipe, _ := cmd.StdinPipe()
	d.WriteTo(pipe)
	d.Close(pipe)
}
`,
	})
	res, err := Analyze(context.Background(), Options{Dir: filepath.Join(root, "app")})
	if err != nil {
		t.Fatal(err)
	}
	only(t, res, "example.com/zdec")
	only(t, res, "example.com/app", Exec, FilesRead, FilesWrite)
}

// TestDescribingIsNothing is the error row: a library formats an error
// and a Stringer it is handed (err.Error(), s.String()), which the call
// graph resolves to the network's error types and net.IP: it is charged
// nothing. The program that dialled is charged NETWORK/CONNECT.
func TestDescribingIsNothing(t *testing.T) {
	root := writeModules(t, map[string]string{
		"report/go.mod": "module example.com/report\n\ngo 1.26\n",
		"report/report.go": `package report

import "fmt"

func Describe(err error) string { return "failed: " + err.Error() }

func Show(s fmt.Stringer) string { return "[" + s.String() + "]" }
`,
		"app/go.mod": "module example.com/app\n\ngo 1.26\n\nrequire example.com/report v0.0.0\n\nreplace example.com/report => ../report\n",
		"app/main.go": `package main

import (
	"fmt"
	"net"

	"example.com/report"
)

func main() {
	_, err := net.Dial("tcp", "127.0.0.1:1")
	if err != nil {
		fmt.Println(report.Describe(err))
	}
	fmt.Println(report.Show(net.IPv4(127, 0, 0, 1)))
}
`,
	})
	res, err := Analyze(context.Background(), Options{Dir: filepath.Join(root, "app")})
	if err != nil {
		t.Fatal(err)
	}
	only(t, res, "example.com/report")
	only(t, res, "example.com/app", NetworkConnect)
}

// TestYAMLProgram is the yaml.v2 row: a program that unmarshals YAML with
// gopkg.in/yaml.v2 v2.2.2 charges yaml.v2 with REFLECT only, as capslock
// does (no NETWORK or RUNTIME through err.Error()).
func TestYAMLProgram(t *testing.T) {
	opts := scratchModule(t, "module example.com/yamlprog\n\ngo 1.22\n\nrequire gopkg.in/yaml.v2 v2.2.2\n", `package main

import (
	"fmt"

	"gopkg.in/yaml.v2"
)

func main() {
	var v map[string]any
	if err := yaml.Unmarshal([]byte("a: b"), &v); err != nil {
		fmt.Println(err)
	}
	fmt.Println(v)
}
`)
	res, err := Analyze(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	only(t, res, "gopkg.in/yaml.v2", Reflect)
	if f := res.Module("gopkg.in/yaml.v2").Capability(Reflect); f == nil || !f.Direct || f.Path[0].Function != "example.com/yamlprog.main" {
		t.Errorf("yaml.v2 REFLECT = %+v; want it direct, with a path from main", f)
	}
}

// TestGoContainerRegistry is the rest of the table of issue 25, on the
// real module (github.com/google/go-containerregistry v0.22.1 as the main
// module, through GOPROXY): klauspost/compress is charged only with what
// its own code does (assembly and unsafe pointers), not with the files
// and pipes its callers hand it; go.opentelemetry.io/auto/sdk, which
// formats errors, not with NETWORK or RUNTIME; and the module's EXEC is
// a real one (a credential helper), not (*cache.readcloser).Close
// resolved to os/exec's closures.
func TestGoContainerRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: fetches go-containerregistry and its 36 modules through GOPROXY")
	}
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/google/go-containerregistry@v0.22.1").Output()
	if err != nil {
		t.Skipf("skipping: go mod download: %v", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "ggcr")
	if err := os.CopyFS(dir, os.DirFS(m.Dir)); err != nil {
		t.Fatal(err)
	}
	opts := Options{Dir: dir}
	if err := PrepareModule(&opts, "github.com/google/go-containerregistry"); err != nil {
		t.Fatal(err)
	}
	res, err := Analyze(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	only(t, res, "github.com/klauspost/compress", Unanalyzed, UnsafePointer)
	for _, f := range res.Module("go.opentelemetry.io/auto/sdk").Capabilities {
		if f.Capability == Network || f.Capability == Runtime {
			t.Errorf("go.opentelemetry.io/auto/sdk is charged %s: %s", f.Capability, PathString(f.Path))
		}
	}
	f := res.Module("github.com/google/go-containerregistry").Capability(Exec)
	if f == nil || !f.Direct {
		t.Fatalf("go-containerregistry EXEC = %+v; want it direct (its credential helpers)", f)
	}
	path := PathString(f.Path)
	if strings.Contains(path, "cache.readcloser") || !strings.HasPrefix(f.Path[len(f.Path)-1].Function, "(*os/exec.Cmd).") && !strings.HasPrefix(f.Path[len(f.Path)-1].Function, "os/exec.") {
		t.Errorf("go-containerregistry EXEC path: %s", path)
	}
	t.Logf("go-containerregistry EXEC: %s", path)
}
