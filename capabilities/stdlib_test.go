package capabilities

import (
	"bytes"
	"fmt"
	"go/types"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

func TestStdlibCovered(t *testing.T) {
	cmd := exec.Command("go", "list", "std")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list std: %v\n%s", err, stderr.Bytes())
	}
	std := map[string]bool{}
	var missing []string
	for _, pkg := range strings.Fields(string(out)) {
		if stdlibHidden(pkg) {
			continue
		}
		std[pkg] = true
		if _, ok := stdlibPackages[pkg]; !ok {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		t.Errorf("packages of this Go version missing from stdlibPackages (%d):\n\t%s", len(missing), strings.Join(missing, "\n\t"))
	}
	var stale []string
	for pkg := range stdlibPackages {
		if !std[pkg] {
			stale = append(stale, pkg)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("stdlibPackages keys that are not public packages of this Go version (%d):\n\t%s", len(stale), strings.Join(stale, "\n\t"))
	}
}

func TestStdlibCapabilitiesValid(t *testing.T) {
	for pkg, c := range stdlibPackages {
		if c != "" && !c.Valid() {
			t.Errorf("stdlibPackages[%q] = %q, not a capability", pkg, c)
		}
		if c == All {
			t.Errorf("stdlibPackages[%q] = ALL, which is a grant, not a capability a call exercises", pkg)
		}
	}
	for fn, c := range stdlibFuncs {
		if c != "" && !c.Valid() {
			t.Errorf("stdlibFuncs[%q] = %q, not a capability", fn, c)
		}
		if c == All {
			t.Errorf("stdlibFuncs[%q] = ALL, which is a grant, not a capability a call exercises", fn)
		}
	}
}

// TestStdlibFuncsExist checks that every key of stdlibFuncs is the go/ssa
// name of a function or method of this Go version: a value method is keyed
// (T).M, since (*T).M is only its wrapper, and a method promoted from an
// embedded type needs the declared method's entry too, which direct calls
// reach.
func TestStdlibFuncsExist(t *testing.T) {
	keys := map[string]stdlibKey{}
	var paths []string
	for fn := range stdlibFuncs {
		k, err := stdlibParseKey(fn)
		if err != nil {
			t.Error(err)
			continue
		}
		if _, ok := stdlibPackages[k.pkg]; !ok {
			t.Errorf("stdlibFuncs[%q]: package %q is not in stdlibPackages", fn, k.pkg)
			continue
		}
		keys[fn] = k
		if !slices.Contains(paths, k.pkg) {
			paths = append(paths, k.pkg)
		}
	}
	pkgs := stdlibLoad(t, paths)
	for fn, k := range keys {
		p := pkgs[k.pkg]
		if p == nil {
			continue // reported by stdlibLoad
		}
		declared, err := stdlibResolve(p, k)
		if err != nil {
			t.Errorf("stdlibFuncs[%q]: %v", fn, err)
			continue
		}
		if declared == fn {
			continue
		}
		if c, ok := stdlibFuncs[declared]; !ok || c != stdlibFuncs[fn] {
			t.Errorf("stdlibFuncs[%q] = %q is promoted from %s, which direct calls reach: want stdlibFuncs[%q] = %q", fn, stdlibFuncs[fn], declared, declared, stdlibFuncs[fn])
		}
	}
}

// TestStdlibExhaustive checks that every exported function and method of the
// packages whose default is none but whose API is mostly capabilities has an
// entry of its own, so that what a new Go release adds to them is decided
// rather than none by default.
func TestStdlibExhaustive(t *testing.T) {
	exhaustive := []string{"io/ioutil", "log", "os", "path/filepath"}
	pkgs := stdlibLoad(t, exhaustive)
	for _, path := range exhaustive {
		p := pkgs[path]
		if p == nil {
			continue
		}
		var missing []string
		for _, fn := range stdlibAPI(p) {
			if _, ok := stdlibFuncs[fn]; !ok {
				missing = append(missing, fn)
			}
		}
		if len(missing) > 0 {
			t.Errorf("stdlibFuncs decides every function of %s but lacks:\n\t%s", path, strings.Join(missing, "\n\t"))
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		pkg, fn string
		want    Capability
	}{
		{"os", "os.ReadFile", FilesRead},
		{"os", "os.Open", FilesRead},
		{"os", "os.OpenFile", FilesWrite},
		{"os", "(*os.File).Write", FilesWrite},
		{"os", "(*os.File).Read", FilesRead},
		{"os", "(*os.File).Close", ""},
		{"os", "os.Getenv", ReadSystemState},
		{"os", "os.Setenv", ModifySystemStateEnv},
		{"os", "os.Chdir", ModifySystemState},
		{"os", "os.Exit", OperatingSystem},
		{"os", "os.IsNotExist", ""},
		{"os", "(os.dirFS).Open", FilesRead},
		{"os/exec", "(*os/exec.Cmd).Run", Exec},
		{"os/exec", "os/exec.Command", Exec},
		{"os/exec", "os/exec.LookPath", ReadSystemState},
		{"os/exec", "(*os/exec.ExitError).ExitCode", ""}, // wrapper of (os/exec.ExitError).ExitCode
		{"os/signal", "os/signal.Notify", OperatingSystem},
		{"os/user", "os/user.Current", ReadSystemState},
		{"io/ioutil", "io/ioutil.WriteFile", FilesWrite},
		{"io/ioutil", "io/ioutil.ReadAll", ""},
		{"io/fs", "io/fs.ReadFile", ""},
		{"path/filepath", "path/filepath.WalkDir", FilesRead},
		{"path/filepath", "path/filepath.Join", ""},
		{"net", "net.Dial", NetworkConnect},
		{"net", "(*net.Dialer).DialContext", NetworkConnect},
		{"net", "net.Listen", NetworkListen},
		{"net", "(*net.TCPListener).Accept", NetworkListen},
		{"net", "net.LookupHost", Network},
		{"net", "(*net.conn).Read", ""},
		{"net", "net.ParseIP", ""},
		{"net", "(net.IP).String", ""},
		{"net", "(*net.IP).String", ""}, // wrapper of (net.IP).String
		{"net", "(*net.OpError).Error", ""},
		{"net", "net.Interfaces", ReadSystemState},
		{"net/http", "net/http.Get", NetworkConnect},
		{"net/http", "(*net/http.Client).Do", NetworkConnect},
		{"net/http", "(*net/http.Transport).RoundTrip", NetworkConnect},
		{"net/http", "net/http.ListenAndServe", NetworkListen},
		{"net/http", "(*net/http.Server).Serve", NetworkListen},
		{"net/http", "net/http.NewRequest", ""},
		{"net/http", "(net/http.Header).Get", ""},
		{"net/http", "net/http.StatusText", ""},
		{"net/http", "(*net/http.body).Read", ""},
		{"net/http/httptest", "net/http/httptest.NewServer", NetworkListen},
		{"net/http/httptest", "net/http/httptest.NewRecorder", ""},
		{"net/smtp", "net/smtp.SendMail", NetworkConnect},
		{"net/url", "net/url.Parse", ""},
		{"crypto/tls", "crypto/tls.Dial", NetworkConnect},
		{"crypto/tls", "crypto/tls.Listen", NetworkListen},
		{"crypto/tls", "(*crypto/tls.Conn).Write", ""},
		{"crypto/x509", "crypto/x509.SystemCertPool", ReadSystemState},
		{"crypto/x509", "crypto/x509.ParseCertificate", ""},
		{"crypto/rand", "crypto/rand.Read", ""},
		{"strings", "strings.ToUpper", ""},
		{"encoding/json", "encoding/json.Unmarshal", ""},
		{"fmt", "fmt.Println", ""},
		{"log", "log.Fatal", OperatingSystem},
		{"log", "log.Printf", ""},
		{"log", "log.SetOutput", ModifySystemState},
		{"time", "time.Now", ""},
		{"time", "time.LoadLocation", ReadSystemState},
		{"mime", "mime.TypeByExtension", ReadSystemState},
		{"reflect", "(reflect.Value).Call", Reflect},
		{"reflect", "(reflect.Value).Set", Reflect},
		{"reflect", "reflect.TypeOf", ""},
		{"reflect", "(*reflect.rtype).Name", ""},
		{"reflect", "reflect.NewAt", UnsafePointer},
		{"unsafe", "unsafe.Add", UnsafePointer},
		{"sync/atomic", "sync/atomic.StorePointer", UnsafePointer},
		{"sync/atomic", "sync/atomic.AddInt64", ""},
		{"syscall", "syscall.Syscall", SystemCalls},
		{"syscall", "syscall.Getenv", ReadSystemState},
		{"syscall", "syscall.Exec", Exec},
		{"syscall", "(syscall.Errno).Error", ""},
		{"plugin", "plugin.Open", ArbitraryExecution},
		{"runtime", "runtime.SetFinalizer", Runtime},
		{"runtime", "runtime.NumCPU", ""},
		{"runtime", "runtime.Caller", ""},
		{"runtime/debug", "runtime/debug.SetGCPercent", Runtime},
		{"runtime/debug", "runtime/debug.ReadBuildInfo", ReadSystemState},
		{"runtime/cgo", "runtime/cgo.NewHandle", CGo},
		{"testing", "(*testing.common).TempDir", FilesWrite},
		{"testing", "(*testing.T).Setenv", ModifySystemStateEnv},
		{"testing", "(*testing.T).Log", ""},
		{"go/importer", "go/importer.Default", Exec},
		{"internal/poll", "(*internal/poll.FD).Read", ""},
		{"vendor/golang.org/x/net/idna", "vendor/golang.org/x/net/idna.ToASCII", ""},
		// Closures, bound methods and thunks are their function.
		{"os", "os.ReadFile$1", FilesRead},
		{"os", "(*os.File).Write$bound", FilesWrite},
		{"net/http", "(*net/http.Client).Do$thunk", NetworkConnect},
	}
	for _, tt := range tests {
		got, ok := Classify(tt.pkg, tt.fn)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Classify(%q, %q) = %q, %v, want %q, %v", tt.pkg, tt.fn, got, ok, tt.want, tt.want != "")
		}
	}
}

// stdlibHidden reports whether pkg is under an internal or vendor directory,
// which only the standard library itself can import.
func stdlibHidden(pkg string) bool {
	for _, elem := range strings.Split(pkg, "/") {
		if elem == "internal" || elem == "vendor" {
			return true
		}
	}
	return false
}

// stdlibKey is a parsed go/ssa function name: pkg.name, or (pkg.typ).name,
// or (*pkg.typ).name.
type stdlibKey struct {
	pkg, typ, name string
	ptr            bool
}

func stdlibParseKey(fn string) (stdlibKey, error) {
	if rest, ok := strings.CutPrefix(fn, "("); ok {
		recv, name, ok := strings.Cut(rest, ").")
		if !ok || name == "" {
			return stdlibKey{}, fmt.Errorf("stdlibFuncs key %q: want (pkg.T).M or (*pkg.T).M", fn)
		}
		recv, ptr := strings.CutPrefix(recv, "*")
		if i := strings.IndexByte(recv, '['); i >= 0 {
			recv = recv[:i] // a generic type's parameters
		}
		dot := strings.LastIndexByte(recv, '.')
		if dot <= 0 || dot == len(recv)-1 {
			return stdlibKey{}, fmt.Errorf("stdlibFuncs key %q: receiver %q is not pkg.T", fn, recv)
		}
		return stdlibKey{pkg: recv[:dot], typ: recv[dot+1:], name: name, ptr: ptr}, nil
	}
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot <= 0 || slash+1+dot == len(fn)-1 {
		return stdlibKey{}, fmt.Errorf("stdlibFuncs key %q: want pkg.F", fn)
	}
	return stdlibKey{pkg: fn[:slash+1+dot], name: fn[slash+1+dot+1:]}, nil
}

// stdlibLoad type-checks the standard-library packages paths from source:
// export data leaves out the unexported types that only interface calls
// reach, such as os.dirFS or net.pipe.
func stdlibLoad(t *testing.T, paths []string) map[string]*types.Package {
	t.Helper()
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedTypes | packages.NeedSyntax}
	loaded, err := packages.Load(cfg, paths...)
	if err != nil {
		t.Fatalf("loading %d standard-library packages: %v", len(paths), err)
	}
	pkgs := map[string]*types.Package{}
	for _, p := range loaded {
		for _, err := range p.Errors {
			t.Errorf("loading %s: %v", p.PkgPath, err)
		}
		if p.Types != nil && len(p.Errors) == 0 {
			pkgs[p.PkgPath] = p.Types
		}
	}
	for _, path := range paths {
		if pkgs[path] == nil {
			t.Errorf("package %s did not load", path)
		}
	}
	return pkgs
}

// stdlibResolve finds k in p and returns the go/ssa name of the method k
// resolves to, which differs from k's when k is promoted from an embedded type.
func stdlibResolve(p *types.Package, k stdlibKey) (string, error) {
	if k.typ == "" {
		if _, ok := p.Scope().Lookup(k.name).(*types.Func); !ok {
			return "", fmt.Errorf("%s has no function %s", k.pkg, k.name)
		}
		return k.pkg + "." + k.name, nil
	}
	tn, ok := p.Scope().Lookup(k.typ).(*types.TypeName)
	if !ok {
		return "", fmt.Errorf("%s has no type %s", k.pkg, k.typ)
	}
	if tn.IsAlias() {
		return "", fmt.Errorf("%s.%s is an alias: key the aliased type's method", k.pkg, k.typ)
	}
	if types.IsInterface(tn.Type()) {
		return "", fmt.Errorf("%s.%s is an interface: key the implementations' methods", k.pkg, k.typ)
	}
	sel := types.NewMethodSet(tn.Type()).Lookup(p, k.name)
	if k.ptr {
		if sel != nil {
			return "", fmt.Errorf("%s is in %s.%s's value method set: key (%s.%s).%s, whose wrapper Classify also finds", k.name, k.pkg, k.typ, k.pkg, k.typ, k.name)
		}
		sel = types.NewMethodSet(types.NewPointer(tn.Type())).Lookup(p, k.name)
	}
	if sel == nil {
		return "", fmt.Errorf("%s.%s has no method %s", k.pkg, k.typ, k.name)
	}
	m, ok := sel.Obj().(*types.Func)
	if !ok {
		return "", fmt.Errorf("%s.%s's %s is not a method", k.pkg, k.typ, k.name)
	}
	return fmt.Sprintf("(%s).%s", types.TypeString(m.Signature().Recv().Type(), nil), m.Name()), nil
}

// stdlibAPI lists the go/ssa names of p's exported functions and of the
// exported methods of its exported, non-interface types.
func stdlibAPI(p *types.Package) []string {
	var api []string
	for _, name := range p.Scope().Names() {
		switch obj := p.Scope().Lookup(name).(type) {
		case *types.Func:
			if obj.Exported() {
				api = append(api, p.Path()+"."+name)
			}
		case *types.TypeName:
			if !obj.Exported() || obj.IsAlias() || types.IsInterface(obj.Type()) {
				continue
			}
			value := types.NewMethodSet(obj.Type())
			for m := range value.Methods() {
				if m.Obj().Exported() {
					api = append(api, fmt.Sprintf("(%s.%s).%s", p.Path(), name, m.Obj().Name()))
				}
			}
			for m := range types.NewMethodSet(types.NewPointer(obj.Type())).Methods() {
				if m.Obj().Exported() && value.Lookup(p, m.Obj().Name()) == nil {
					api = append(api, fmt.Sprintf("(*%s.%s).%s", p.Path(), name, m.Obj().Name()))
				}
			}
		}
	}
	sort.Strings(api)
	return api
}
