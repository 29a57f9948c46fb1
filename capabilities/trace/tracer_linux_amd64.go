package trace

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/posture"
)

// tracer turns events into a profile.
type tracer struct {
	mu      sync.Mutex // guards exeOf against attach
	opts    Options
	enforce bool
	allowed *ebpf.Map
	quiet   *ebpf.Map
	cpus    int // possible CPUs: quiet's values are per CPU
	// quieted is the charge each call in quiet counts for.
	quieted map[bpfCallKey]*Charge
	// logged holds the violations listed in log mode, by charge and
	// example.
	logged     map[string]bool
	stopped    chan struct{}
	stopOnce   bool
	root       uint32
	exeOf      map[uint32]string
	programs   map[string]*tracedProgram
	charges    map[string]*Charge
	attributed map[stackKey]attribution
	events     *json.Encoder
	profile    *Profile
	boot       time.Time
}

// stackKey is a user stack (its hash) in one executable, for one system
// call.
type stackKey struct {
	exe   string
	stack uint64
	nr    int64
}

type attribution struct {
	module string
	c      capabilities.Capability
	frames []frame
}

type tracedProgram struct {
	*program
	syscalls map[int]bool
}

func newTracer(opts Options) *tracer {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return &tracer{
		opts: opts, exeOf: map[uint32]string{}, programs: map[string]*tracedProgram{}, charges: map[string]*Charge{}, attributed: map[stackKey]attribution{}, quieted: map[bpfCallKey]*Charge{}, logged: map[string]bool{},
		profile: &Profile{Command: opts.Command},
		stopped: make(chan struct{}),
		boot:    time.Now().Add(-time.Duration(ts.Nano())),
	}
}

func (t *tracer) program(path string) *tracedProgram {
	if path == "" {
		return nil
	}
	if p, ok := t.programs[path]; ok {
		return p
	}
	p := &tracedProgram{program: loadProgram(path), syscalls: map[int]bool{}}
	t.programs[path] = p
	return p
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (t *tracer) handle(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(b) < int(unsafe.Sizeof(rawEvent{})) {
		return
	}
	// The record is the C struct, in this machine's byte order.
	e := *(*rawEvent)(unsafe.Pointer(&b[0]))
	switch e.Nr {
	case evFork:
		t.exeOf[e.Pid] = t.exeOf[e.Tid]
		return
	case evExec:
		t.exeOf[e.Pid] = cstr(e.Str[:])
		t.program(t.exeOf[e.Pid])
		return
	}
	// Whatever the event, a process paused for it runs on unless it is
	// found to violate the declaration.
	resume := t.enforce
	defer func() {
		if resume {
			unix.Kill(int(e.Pid), unix.SIGCONT)
		}
	}()
	exe := t.exeOf[e.Pid]
	p := t.program(exe)
	if p == nil {
		// The command's process before its exec is still customs.
		return
	}
	// Each distinct stack is symbolized once per executable, and what it
	// is charged to kept.
	key := stackKey{exe: exe, stack: e.Stack, nr: e.Nr}
	at, ok := t.attributed[key]
	if !ok {
		frames := p.symbolize(e.IPs[:min(int(e.NFrames), len(e.IPs))])
		at.module, at.c = p.attribute(frames, e.Nr)
		at.frames = frames
		t.attributed[key] = at
	}
	module, c, frames := at.module, at.c, at.frames
	if c == "" {
		t.quietCall(&e, nil, true)
		return
	}
	chKey := exe + "\x00" + module + "\x00" + string(c)
	ch := t.charges[chKey]
	if ch == nil {
		ch = &Charge{Executable: exe, Module: module, Capability: c, First: t.boot.Add(time.Duration(e.Ts))}
		for _, f := range frames {
			s := f.fn
			if f.file != "" {
				s += fmt.Sprintf(" (%s:%d)", f.file, f.line)
			}
			ch.Stack = append(ch.Stack, s)
		}
		t.charges[chKey] = ch
	}
	ch.Count++
	ex := example(&e)
	if t.events != nil {
		t.events.Encode(Event{Time: t.boot.Add(time.Duration(e.Ts)), PID: e.Pid, TID: e.Tid, Executable: exe, Syscall: e.Nr, Module: module, Capability: c, Args: ex})
	}
	if ex != "" && len(ch.Examples) < maxExamples && !slices.Contains(ch.Examples, ex) {
		ch.Examples = append(ch.Examples, ex)
	}
	if e.Nr == 59 || e.Nr == 322 {
		if prog := cstr(e.Str[:]); prog != "" {
			if rule, ok := posture.ExecRule(prog); ok && len(t.profile.Flags) < maxFlags {
				t.profile.Flags = append(t.profile.Flags, Flag{Time: t.boot.Add(time.Duration(e.Ts)), PID: e.Pid, Executable: exe, Module: module, Rule: rule, Program: prog, Example: ex})
			}
		}
	}
	if t.opts.Declared == nil {
		t.quietCall(&e, ch, true)
		return
	}
	d := t.opts.Declared.Decide(module, c)
	if d.Allowed && (d.Rule == nil || len(d.Rule.Scopes) == 0 || ex == "" || inScope(d.Rule.Scopes, ex)) {
		scoped := d.Rule != nil && len(d.Rule.Scopes) > 0
		// The same stack and call need not be paused for again, unless
		// a scope must be checked against each event's arguments.
		if t.enforce && !scoped {
			t.allowed.Put(bpfCallKey{Tgid: e.Pid, Gen: e.Gen, Stack: e.Stack, Nr: e.Nr}, uint8(1))
		}
		t.quietCall(&e, ch, !scoped)
		return
	}
	v := Violation{Time: t.boot.Add(time.Duration(e.Ts)), PID: e.Pid, Executable: exe, Module: module, Capability: c, Example: ex, Stack: ch.Stack, Action: "logged"}
	switch {
	case t.enforce && t.opts.OnViolation == OnViolationKill:
		resume = false
		unix.Kill(int(e.Pid), unix.SIGKILL)
		v.Action = "killed"
	case t.enforce && t.opts.OnViolation == OnViolationStop:
		resume = false
		// Paused already, unless the SIGCONT for an earlier event of
		// another of its threads came after this pause: pause it again.
		unix.Kill(int(e.Pid), unix.SIGSTOP)
		v.Action = "stopped"
		if !t.stopOnce {
			t.stopOnce = true
			close(t.stopped)
		}
	default:
		// Logged: the same violation again adds nothing to the list (its
		// charge counts it), and the kernel need not hand it over.
		t.quietCall(&e, ch, false)
		vk := chKey + "\x00" + ex
		if t.logged[vk] {
			return
		}
		t.logged[vk] = true
	}
	if len(t.profile.Violations) < maxViolations {
		t.profile.Violations = append(t.profile.Violations, v)
	}
}

// maxViolations bounds the violations a profile lists (a logged loop must
// not grow it without bound); the charges count every one.
const maxViolations = 1000

// quietCall tells the kernel to count the call from now on instead of
// handing it over: any arguments once its charge has all the examples it
// keeps (anyArgs: nothing is checked against each event's arguments),
// else the same arguments. Execs are always handed over (each is checked
// for attack tools), and so is everything when every event is written out.
func (t *tracer) quietCall(e *rawEvent, ch *Charge, anyArgs bool) {
	if t.quiet == nil || t.events != nil || e.Nr == 59 || e.Nr == 322 {
		return
	}
	key := bpfCallKey{Tgid: e.Pid, Gen: e.Gen, Stack: e.Stack, Nr: e.Nr, Argh: e.ArgHash}
	if anyArgs && (ch == nil || len(ch.Examples) >= maxExamples) {
		key.Argh = 0
	}
	if _, ok := t.quieted[key]; ok {
		return
	}
	if t.quiet.Update(key, make([]uint64, t.cpus), ebpf.UpdateNoExist) == nil {
		t.quieted[key] = ch
	}
}

// addQuiet adds what the kernel counted to the charges.
func (t *tracer) addQuiet() {
	var key bpfCallKey
	var perCPU []uint64
	it := t.quiet.Iterate()
	for it.Next(&key, &perCPU) {
		if ch := t.quieted[key]; ch != nil {
			for _, n := range perCPU {
				ch.Count += int(n)
			}
		}
	}
}

// maxExamples is how many distinct arguments a charge keeps.
const maxExamples = 5

// maxFlags bounds the flagged execs a profile keeps (a shell loop must not
// grow it without bound).
const maxFlags = 1000

// example is an event's arguments in a line.
func example(e *rawEvent) string {
	switch e.Nr {
	case 59, 322: // execve, execveat
		var argv []string
		for _, a := range e.Argv {
			if s := cstr(a[:]); s != "" {
				argv = append(argv, s)
			}
		}
		return "program=" + cstr(e.Str[:]) + " argv=" + strings.Join(argv, " ")
	case 42, 49: // connect, bind
		return "address=" + sockaddr(e.Addr[:e.AddrLen])
	case 82, 264, 316:
		return "path=" + cstr(e.Str[:]) + " -> " + cstr(e.Str2[:])
	}
	if s := cstr(e.Str[:]); s != "" {
		return "path=" + s
	}
	return ""
}

func sockaddr(b []byte) string {
	if len(b) < 2 {
		return ""
	}
	switch binary.LittleEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			ip, _ := netip.AddrFromSlice(b[4:8])
			return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:4])).String()
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			ip, _ := netip.AddrFromSlice(b[8:24])
			return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:4])).String()
		}
	case unix.AF_UNIX:
		return "unix:" + cstr(b[2:])
	}
	return fmt.Sprintf("family %d", binary.LittleEndian.Uint16(b))
}

func (t *tracer) finish() *Profile {
	for _, p := range t.programs {
		for nr := range p.syscalls {
			p.exe.Syscalls = append(p.exe.Syscalls, nr)
		}
		sort.Ints(p.exe.Syscalls)
		t.profile.Executables = append(t.profile.Executables, p.exe)
	}
	sort.Slice(t.profile.Executables, func(i, j int) bool { return t.profile.Executables[i].Path < t.profile.Executables[j].Path })
	for _, c := range t.charges {
		t.profile.Charges = append(t.profile.Charges, c)
	}
	sort.Slice(t.profile.Charges, func(i, j int) bool {
		a, b := t.profile.Charges[i], t.profile.Charges[j]
		if a.Executable != b.Executable {
			return a.Executable < b.Executable
		}
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Capability < b.Capability
	})
	if t.profile.Charges == nil {
		t.profile.Charges = []*Charge{}
	}
	return t.profile
}
