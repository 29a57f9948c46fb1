package capabilities

import "strings"

// Classify returns the capability a call into the standard-library function
// named fn (its go/ssa name, such as "os.ReadFile", "(*os.File).Write" or
// "(net.IP).String") of package pkg (its import path) exercises, and whether
// it exercises one.
//
// A closure, bound method or thunk (fn$1, fn$bound, fn$thunk) is classified
// as its function, and a pointer-receiver wrapper "(*T).M" of a value method
// as "(T).M". Packages under internal or vendor, which non-standard code
// cannot call, exercise none.
//
// Static analysis and run time both charge a module at this boundary, so the
// classification (the tables in stdlib_table.go) says what a call lets the
// caller do, never how the standard library does it. The conventions,
// following google/capslock (interesting/interesting.cm):
//
//   - Implementation details are not capabilities. encoding/json, encoding/gob,
//     text/template, html/template, net/rpc, testing/quick and fmt's %v use
//     reflection, but only on values the caller hands them: none. REFLECT is
//     charged where a module calls reflect itself, and only for what
//     introspection cannot do (Call, Set, Convert, Interface, New, MakeFunc, …).
//   - Descriptors the process already holds are not capabilities: fmt.Print*,
//     fmt.Scan*, log.Print*, slog.Info write to or read from stdin, stdout and
//     stderr: none. crypto/rand reads the OS's entropy: none (capslock: safe).
//     Spilling a multipart form to temporary files (mime/multipart.ReadForm,
//     (*http.Request).FormValue) is buffering: none.
//   - A value that already does I/O was charged where it was made. Dialling is
//     NETWORK/CONNECT and listening or accepting NETWORK/LISTEN; reading an
//     HTTP body, writing a ResponseWriter or a *tls.Conn is none. Package net
//     is the exception: any call into it (Read/Write on a *net.TCPConn, DNS)
//     is NETWORK unless listed.
//   - An fs.FS decides: io/fs, testing/fstest, http.FS and (*zip.Writer).AddFS
//     are none; os.DirFS and (*os.Root).FS, which make an FS of the OS's
//     files, are FILES/READ. http.FileServer and http.NewFileTransport take
//     an http.FileSystem, whose only OS-backed kind, http.Dir, is a conversion
//     no call graph sees: they are FILES/READ.
//   - FILES/READ and FILES/WRITE when the caller names the file; opening for
//     writing (os.OpenFile, (*os.Root).OpenFile) is FILES/WRITE. Reading a
//     fixed system database (time.LoadLocation, mime.TypeByExtension,
//     x509.SystemCertPool, os/user, net.Interfaces) is READ_SYSTEM_STATE.
//   - Replacing a process-wide default other code relies on (log.SetOutput,
//     slog.SetDefault, x509.SetFallbackRoots) is MODIFY_SYSTEM_STATE, and so
//     is os.Chdir; adding to a registry (http.Handle, expvar.Publish, flag.*,
//     rpc.Register) is none. The environment is MODIFY_SYSTEM_STATE/ENV.
//   - Ending the process (os.Exit, log.Fatal*, testing.Main) and signals
//     (os/signal, (*os.Process).Kill/Signal, os.FindProcess) are
//     OPERATING_SYSTEM. flag.Parse may exit on a bad flag; it is none, as is
//     reading os.Args, a variable no call graph sees.
//   - Starting a program is EXEC, also where it is the means: go/importer and
//     go/build.Import run the go command. A function has one capability, the
//     most significant: go/build.Import reads files too.
//   - runtime follows capslock: profiling, stacks, GC and scheduling knobs are
//     none; finalizers, cleanups, Goexit, Breakpoint, thread unlocking,
//     pinning, CPUProfile, SetCgoTraceback and runtime/debug's limits are
//     RUNTIME. plugin is ARBITRARY_EXECUTION, unsafe UNSAFE_POINTER, as are the
//     functions that write memory through an unsafe.Pointer (reflect.NewAt,
//     reflect.SliceAt, (reflect.Value).SetPointer, atomic.StorePointer,
//     SwapPointer, CompareAndSwapPointer). syscall is SYSTEM_CALLS, except
//     what is really the environment or EXEC, and pure helpers.
//   - The clock is not a capability: time.Now, time.Sleep and timers are none.
//   - Errors' methods (Error, Unwrap, Timeout, …) are none: error values flow
//     everywhere, and a call graph resolves err.Error() to them. So are the
//     methods that only describe a value (String, GoString, Format,
//     MarshalText, MarshalJSON), which fmt and encoding/json call through
//     interfaces: (net.addrinfoErrno).Error is not a use of the network.
func Classify(pkg, fn string) (Capability, bool) {
	if i := strings.IndexByte(fn, '$'); i >= 0 {
		fn = fn[:i]
	}
	if describes(fn) {
		return "", false
	}
	c, ok := stdlibFuncs[fn]
	if !ok && strings.HasPrefix(fn, "(*") {
		c, ok = stdlibFuncs["("+fn[2:]]
	}
	if !ok {
		c = stdlibPackages[pkg]
	}
	return c, c != ""
}

// describeOnly are the methods that describe a value or an error and
// exercise nothing, whatever the type.
var describeOnly = map[string]bool{
	"Error": true, "Unwrap": true, "Timeout": true, "Temporary": true,
	"String": true, "GoString": true, "Format": true, "MarshalText": true, "MarshalJSON": true,
}

// describes reports whether fn ("(T).M", "(*T).M") is such a method.
func describes(fn string) bool {
	if !strings.HasPrefix(fn, "(") {
		return false
	}
	i := strings.LastIndex(fn, ").")
	return i >= 0 && describeOnly[fn[i+2:]]
}
