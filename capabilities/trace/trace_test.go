package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/testimage"
)

// run traces a command, skipping where BPF cannot be used (not root, no
// BTF): CI runs these tests as root.
func run(t *testing.T, args ...string) *Profile {
	t.Helper()
	return runWith(t, Options{Command: args})
}

func runWith(t *testing.T, opts Options) *Profile {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("skipping: customs trace needs Linux on amd64")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: customs trace needs root (CI runs it as root)")
	}
	p, err := Run(context.Background(), opts)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// buildTestdata builds the program testdata/trace/NAME into dir.
func buildTestdata(t *testing.T, dir, name string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, flags...), ".")...)
	cmd.Dir = filepath.Join(testimage.Root(), "testdata", "trace", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/trace/%s: %v\n%s", name, err, out)
	}
	return bin
}

// listen accepts and closes connections on 127.0.0.1 until the test ends.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func charge(p *Profile, module string, c capabilities.Capability) *Charge {
	for _, ch := range p.Charges {
		if ch.Module == module && ch.Capability == c {
			return ch
		}
	}
	return nil
}

// TestTraceChargesTheDependency traces testdata/trace/app, whose
// dependency example.com/dep (wired with a replace) connects to a
// listener, writes a file and runs /bin/true from a goroutine, built with
// and without symbols.
func TestTraceChargesTheDependency(t *testing.T) {
	ln := listen(t)
	for _, build := range []struct {
		name  string
		flags []string
	}{{"with symbols", nil}, {"stripped", []string{"-ldflags=-s -w"}}} {
		t.Run(build.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := buildTestdata(t, dir, "app", build.flags...)
			file := filepath.Join(dir, "written.txt")
			var events strings.Builder
			p := runWith(t, Options{Command: []string{bin, ln.Addr().String(), file}, Events: &events})
			if !strings.Contains(events.String(), `"module":"example.com/dep","capability":"NETWORK/CONNECT","args":"address=`+ln.Addr().String()+`"`) || !strings.Contains(events.String(), `"tid":`) {
				t.Errorf("the event stream lacks the connect with its pid, tid and address:\n%s", events.String())
			}
			if p.ExitCode != 0 {
				t.Fatalf("the traced program exited %d", p.ExitCode)
			}
			for _, tc := range []struct {
				c       capabilities.Capability
				example string
			}{
				{capabilities.NetworkConnect, "address=" + ln.Addr().String()},
				{capabilities.FilesWrite, "path=" + file},
				{capabilities.Exec, "program=/bin/true"},
			} {
				ch := charge(p, "example.com/dep", tc.c)
				if ch == nil {
					t.Errorf("%s is not charged to example.com/dep: %+v", tc.c, p.Charges)
					continue
				}
				if !strings.Contains(strings.Join(ch.Examples, "\n"), tc.example) {
					t.Errorf("%s examples = %q, want %q", tc.c, ch.Examples, tc.example)
				}
				if !strings.Contains(strings.Join(ch.Stack, "\n"), "example.com/dep.Work") {
					t.Errorf("%s stack is not symbolized to example.com/dep.Work:\n%s", tc.c, strings.Join(ch.Stack, "\n"))
				}
				if main := charge(p, capabilities.MainSubject, tc.c); main != nil {
					t.Errorf("%s is charged to the main module too: %+v", tc.c, main)
				}
			}
			var exe *Executable
			for _, e := range p.Executables {
				if e.Path == bin {
					exe = e
				}
			}
			if exe == nil || exe.MainModule != "example.com/traced" || exe.GoBuildID == "" || len(exe.Syscalls) == 0 {
				t.Errorf("executable = %+v", exe)
			}
			// /bin/true ran in a child process: it was followed.
			found := false
			for _, e := range p.Executables {
				found = found || e.Path == "/bin/true"
			}
			if !found {
				t.Errorf("the child /bin/true is not among the executables: %+v", p.Executables)
			}
			if p.Dropped != 0 {
				t.Errorf("%d events dropped", p.Dropped)
			}
		})
	}
}

// TestTraceShellScript traces a non-Go program, charged as a whole, and
// the short-lived processes it starts.
func TestTraceShellScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho hello > \"$1\"\n/bin/true\n"), 0o755)
	out := filepath.Join(dir, "out.txt")
	p := run(t, script, out)
	w := charge(p, capabilities.MainSubject, capabilities.FilesWrite)
	if w == nil || !strings.Contains(strings.Join(w.Examples, "\n"), "path="+out) {
		t.Errorf("the script's write is not charged to it: %+v", p.Charges)
	}
	e := charge(p, capabilities.MainSubject, capabilities.Exec)
	if e == nil || !strings.Contains(strings.Join(e.Examples, "\n"), "program=/bin/true") {
		t.Errorf("the script's exec of /bin/true is not charged to it: %+v", p.Charges)
	}
}

// TestCheckProfile holds a profile against declarations, scopes included.
func TestCheckProfile(t *testing.T) {
	p := &Profile{Charges: []*Charge{
		{Module: "example.com/dep", Capability: capabilities.NetworkConnect, Examples: []string{"address=127.0.0.1:5432"}},
		{Module: "example.com/dep", Capability: capabilities.FilesWrite, Examples: []string{"path=/tmp/x/y"}},
	}}
	for _, tc := range []struct {
		decl string
		want int
	}{
		{"capabilities 1\nexample.com/dep NETWORK FILES\n", 0},
		{"capabilities 1\nexample.com/dep FILES\n", 1},
		{"capabilities 1\nexample.com/dep NETWORK/CONNECT host=*:5432\nexample.com/dep FILES/WRITE path=/tmp/**\n", 0},
		{"capabilities 1\nexample.com/dep NETWORK/CONNECT host=*:443\nexample.com/dep FILES/WRITE path=/etc/**\n", 2},
	} {
		f, err := capabilities.Parse("capabilities.txt", []byte(tc.decl))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(Check(f, p).Violations); got != tc.want {
			t.Errorf("Check(%q) = %d violations, want %d", tc.decl, got, tc.want)
		}
	}
	if _, err := capabilities.Parse("proposed", Declaration(p).Format()); err != nil {
		t.Errorf("the proposed declaration does not parse: %v", err)
	}
}

func FuzzParseProfile(f *testing.F) {
	f.Add([]byte(`{"command":["x"],"charges":[{"executable":"/x","module":"main","capability":"EXEC","count":1,"examples":["program=/bin/true"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProfile(b)
		if err != nil {
			return
		}
		Declaration(p).Format()
		f, _ := capabilities.Parse("c", []byte("capabilities 1\nmain ALL host=*\n"))
		Check(f, p)
	})
}

// TestReverseShell: a dependency connects out, then starts /bin/sh -c to
// write a marker file. Without NETWORK granted, --on-violation kill kills
// the program at the connect, and the marker is never written; log lets it
// run to the end and reports the violation.
func TestReverseShell(t *testing.T) {
	ln := listen(t)
	dir := t.TempDir()
	bin := buildTestdata(t, dir, "revshell")
	decl, err := capabilities.Parse("capabilities.txt", []byte("capabilities 1\nmain ALL\nexample.com/backdoor FILES\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action     string
		markerWant bool
		want       string
	}{{OnViolationKill, false, "killed"}, {OnViolationLog, true, "logged"}} {
		t.Run(tc.action, func(t *testing.T) {
			marker := filepath.Join(dir, "marker-"+tc.action)
			p := runWith(t, Options{Command: []string{bin, ln.Addr().String(), marker}, Declared: decl, OnViolation: tc.action})
			_, err := os.Stat(marker)
			if written := err == nil; written != tc.markerWant {
				t.Errorf("marker written = %v, want %v", written, tc.markerWant)
			}
			if len(p.Violations) == 0 {
				t.Fatalf("no violation reported: %+v", p)
			}
			v := p.Violations[0]
			if v.Module != "example.com/backdoor" || v.Capability != capabilities.NetworkConnect || v.Action != tc.want {
				t.Errorf("first violation = %+v, want example.com/backdoor NETWORK/CONNECT %s", v, tc.want)
			}
			if rep := Check(decl, p); rep.Passed() {
				t.Error("Check passes a profile with a violation")
			}
		})
	}
}

// TestAttach follows a process that is already running, and what it
// starts.
func TestAttach(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.5; echo attached > \"$0\"; /bin/true", out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	p := runWith(t, Options{PID: cmd.Process.Pid})
	w := charge(p, capabilities.MainSubject, capabilities.FilesWrite)
	if w == nil || !strings.Contains(strings.Join(w.Examples, "\n"), "path="+out) {
		t.Errorf("the write of the attached process is not in the profile: %+v", p.Charges)
	}
	if e := charge(p, capabilities.MainSubject, capabilities.Exec); e == nil {
		t.Errorf("the exec of /bin/true (a child started after attaching) is not in the profile: %+v", p.Charges)
	}
}

// TestAttachFollowsEveryThread attaches to a Go program whose threads are
// already running: a write from each of them is seen.
func TestAttachFollowsEveryThread(t *testing.T) {
	dir := t.TempDir()
	bin := buildTestdata(t, dir, "threads")
	cmd := exec.Command(bin, dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	p := runWith(t, Options{PID: cmd.Process.Pid})
	w := charge(p, capabilities.MainSubject, capabilities.FilesWrite)
	if w == nil {
		t.Fatalf("no write in the profile: %+v", p.Charges)
	}
	for i := range 4 {
		if want := "path=" + filepath.Join(dir, fmt.Sprintf("t%d", i)); !strings.Contains(strings.Join(w.Examples, "\n"), want) {
			t.Errorf("the write of thread %d (%s) is not in the profile: %q", i, want, w.Examples)
		}
	}
}

// TestDropsAreCounted shrinks the ring buffer until events cannot all fit:
// the profile says how many were lost.
func TestDropsAreCounted(t *testing.T) {
	dir := t.TempDir()
	// Every event is written out, so none is only counted in the kernel.
	p := runWith(t, Options{Command: []string{"/bin/sh", "-c", "i=0; while [ $i -lt 3000 ]; do : > \"$0/f$i\"; i=$((i+1)); done", dir}, ringBytes: 4096, Events: io.Discard})
	if p.Dropped == 0 {
		t.Errorf("3000 writes through a 4 KiB ring buffer dropped nothing: %d charges", len(p.Charges))
	}
}

// TestQuietCallsAreCounted: once a call has given its charge all the
// examples kept, the kernel only counts it; the counts still add up to
// every event, and nothing is dropped.
func TestQuietCallsAreCounted(t *testing.T) {
	dir := t.TempDir()
	p := runWith(t, Options{Command: []string{"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do : > \"$0/f$((i % 7))\"; : > \"$0/same\"; i=$((i+1)); done", dir}})
	w := charge(p, capabilities.MainSubject, capabilities.FilesWrite)
	if w == nil || w.Count != 4000 || len(w.Examples) != maxExamples || p.Dropped != 0 {
		t.Fatalf("FILES/WRITE charge %+v, dropped %d: want 4000 writes and %d examples", w, p.Dropped, maxExamples)
	}
}

// TestLoggedViolationsOnce: a logged violation repeating the same call
// and arguments is listed once and counted in its charge every time.
func TestLoggedViolationsOnce(t *testing.T) {
	decl, err := capabilities.Parse("capabilities.txt", []byte("capabilities 1\nmain EXEC\n"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	p := runWith(t, Options{Command: []string{"/bin/sh", "-c", "i=0; while [ $i -lt 300 ]; do : > \"$0\"; i=$((i+1)); done", out}, Declared: decl, OnViolation: OnViolationLog})
	w := charge(p, capabilities.MainSubject, capabilities.FilesWrite)
	if w == nil || w.Count != 300 {
		t.Fatalf("FILES/WRITE charge %+v: want 300 writes", w)
	}
	if len(p.Violations) != 1 || p.Violations[0].Action != "logged" {
		t.Errorf("%d violations: want the write logged once", len(p.Violations))
	}
}

// TestTraceFlagsAttackTools flags the exec of a network tool and of a
// shell, whatever the declaration grants.
func TestTraceFlagsAttackTools(t *testing.T) {
	dir := t.TempDir()
	// A harmless program under an attack tool's name.
	nc := filepath.Join(dir, "nc")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no /bin/true")
	}
	os.WriteFile(nc, b, 0o755)
	script := filepath.Join(dir, "script.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"+nc+" -e /bin/sh 127.0.0.1 4444\n/bin/true\n"), 0o755)
	p := run(t, script)
	flags := map[string]string{}
	for _, f := range p.Flags {
		flags[f.Program] = f.Rule
	}
	if flags[nc] != "attack-tool" {
		t.Errorf("the exec of %s is not flagged as an attack tool: %+v", nc, p.Flags)
	}
	if _, ok := flags["/bin/true"]; ok {
		t.Errorf("/bin/true is flagged: %+v", p.Flags)
	}
}

// TestOnlyTheCommandIsFollowed traces, with a declaration enforced by
// kill, a command that writes nothing, while other goroutines of the same
// process start programs that write files and make the Go runtime start
// and end threads. Neither those programs nor the process itself may be
// followed: none is killed or stopped, and the profile holds the command
// alone.
func TestOnlyTheCommandIsFollowed(t *testing.T) {
	decl, err := capabilities.Parse("capabilities.txt", []byte("capabilities 1\nmain EXEC\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 2 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				c, stop := context.WithTimeout(context.Background(), 20*time.Second)
				out, err := exec.CommandContext(c, "/bin/sh", "-c", "echo x > \"$0\"", filepath.Join(dir, fmt.Sprintf("bg-%d-%d", i, n))).CombinedOutput()
				stop()
				if err != nil {
					errs <- fmt.Errorf("a program started beside the trace: %v %s", err, out)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// A goroutine that ends locked to its thread ends the
				// thread: the runtime keeps making new ones.
				done := make(chan struct{})
				go func() { runtime.LockOSThread(); close(done) }()
				<-done
			}
		}()
	}
	for range 3 {
		p := runWith(t, Options{Command: []string{"/bin/sh", "-c", "sleep 0.1"}, Declared: decl, OnViolation: OnViolationKill})
		if p.ExitCode != 0 || len(p.Violations) > 0 {
			t.Errorf("the command: exit %d, violations %+v", p.ExitCode, p.Violations)
		}
		for _, c := range p.Charges {
			if c.Capability != capabilities.Exec && c.Capability != capabilities.ReadSystemState {
				t.Errorf("charged %s %s %s: something beside the command was followed", c.Executable, c.Module, c.Capability)
			}
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestAgreeReportsStaticMisses traces testdata/trace/hidden, which
// removes a file through reflect.Value.Call, and checks the trace with
// the static analysis of its code: the removal (main FILES/WRITE) is a
// static miss; what example.com/dep does is seen by both and is none; a
// grant the trace used but the code does not show is not unused, and one
// neither used is.
func TestAgreeReportsStaticMisses(t *testing.T) {
	ln := listen(t)
	dir := t.TempDir()
	bin := buildTestdata(t, dir, "hidden")
	file := filepath.Join(dir, "written.txt")
	p := run(t, bin, ln.Addr().String(), file)
	if p.ExitCode != 0 {
		t.Fatalf("the traced program exited %d", p.ExitCode)
	}
	static, err := capabilities.Analyze(context.Background(), capabilities.Options{Dir: filepath.Join(testimage.Root(), "testdata", "trace", "hidden")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := capabilities.Parse("capabilities.txt", []byte("capabilities 1\nexample.com/dep NETWORK FILES EXEC\nexample.com/dep MODIFY_SYSTEM_STATE\nmain REFLECT FILES/WRITE OPERATING_SYSTEM\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep := Agree(f, static, p)
	if len(rep.StaticMisses) != 1 || rep.StaticMisses[0].Module != capabilities.MainSubject || rep.StaticMisses[0].Capability != capabilities.FilesWrite {
		t.Errorf("static misses = %+v; want main FILES/WRITE (os.Remove through reflect) only", rep.StaticMisses)
	}
	if len(rep.Violations) != 0 {
		t.Errorf("violations = %+v; want none", rep.Violations)
	}
	if len(rep.Unused) != 1 || rep.Unused[0].Capability != capabilities.ModifySystemState {
		t.Errorf("unused = %+v; want only example.com/dep MODIFY_SYSTEM_STATE", rep.Unused)
	}
	// Without the grant of what the trace saw, both views fail it once.
	f, _ = capabilities.Parse("capabilities.txt", []byte("capabilities 1\nexample.com/dep NETWORK FILES EXEC\nmain REFLECT OPERATING_SYSTEM\n"))
	if rep := Agree(f, static, p); len(rep.Violations) != 1 || rep.Violations[0].Capability != capabilities.FilesWrite {
		t.Errorf("violations = %+v; want main FILES/WRITE, from the trace", rep.Violations)
	}
}
