package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// rawEvent is struct event of bpf/trace.bpf.c, byte for byte (bpf2go's
// bpfEvent has the same layout, with signed bytes for the strings).
type rawEvent struct {
	Ts      uint64
	Pid     uint32
	Tid     uint32
	Nr      int64
	Gen     uint32
	NFrames uint32
	Stack   uint64
	ArgHash uint64
	AddrLen uint32
	_       uint32
	Args    [6]uint64
	IPs     [64]uint64
	Str     [256]byte
	Str2    [256]byte
	Addr    [128]byte
	Argv    [4][64]byte
}

const (
	evFork = -1
	evExec = -2
)

// raiseMemlock lifts RLIMIT_MEMLOCK, against which kernels before 5.11
// charge BPF maps (later ones charge the memory cgroup). Not being allowed
// to is not an error here: loading the programs fails, saying so, if it
// mattered. cilium/ebpf's rlimit package decides whether it is needed with
// a probe at package initialisation, which every customs process paid,
// whatever its command.
func raiseMemlock() {
	unlimited := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	_ = unix.Prlimit(0, unix.RLIMIT_MEMLOCK, &unlimited, nil)
}

// Run starts the command and follows its whole process tree until it
// exits, and returns what it did.
func Run(ctx context.Context, opts Options) (*Profile, error) {
	if len(opts.Command) == 0 && opts.PID == 0 {
		return nil, errors.New("no command to trace")
	}
	switch opts.OnViolation {
	case "", OnViolationLog, OnViolationStop, OnViolationKill:
	default:
		return nil, fmt.Errorf("on-violation %q: use log, stop or kill", opts.OnViolation)
	}
	raiseMemlock()
	spec, err := loadBpf()
	if err != nil {
		return nil, err
	}
	if opts.ringBytes != 0 {
		spec.Maps["events"].MaxEntries = opts.ringBytes
	}
	var objs bpfObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("%w: loading the BPF programs: %v", ErrUnavailable, err)
	}
	defer objs.Close()
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, prog := range []*ebpf.Program{objs.OnSysEnter, objs.OnFork, objs.OnExec, objs.OnExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return nil, fmt.Errorf("%w: attaching %s: %v", ErrUnavailable, prog, err)
		}
		links = append(links, l)
	}
	rd, err := ringbuf.NewReader(objs.Events)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer rd.Close()

	t := newTracer(opts)
	if opts.Events != nil {
		t.events = json.NewEncoder(opts.Events)
	}
	t.allowed = objs.Allowed
	t.quiet = objs.Quiet
	if t.cpus, err = ebpf.PossibleCPU(); err != nil {
		return nil, err
	}
	if opts.Declared != nil && (opts.OnViolation == OnViolationStop || opts.OnViolation == OnViolationKill) {
		t.enforce = true
		if err := objs.Enforce.Put(uint32(0), uint32(1)); err != nil {
			return nil, err
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Without enforcement the kernel does not wake the reader for
		// each event: it polls, which costs the traced program less.
		var rec ringbuf.Record
		for {
			rd.SetDeadline(time.Now().Add(5 * time.Millisecond))
			err := rd.ReadInto(&rec)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				return
			}
			t.handle(rec.RawSample)
		}
	}()

	var werr error
	if opts.PID != 0 {
		werr = t.attach(ctx, &objs, opts.PID)
	} else {
		werr = t.start(ctx, objs.Watch, opts)
	}
	if werr != nil && t.profile.Started.IsZero() {
		return nil, werr
	}
	// Read what is left in the ring buffer, then stop.
	rd.Flush()
	<-done

	t.addQuiet()
	var perCPU []uint64
	if err := objs.Drops.Lookup(uint32(0), &perCPU); err == nil {
		for _, n := range perCPU {
			t.profile.Dropped += n
		}
	}
	var tgid uint32
	var set bpfSyscallSet
	it := objs.Syscalls.Iterate()
	for it.Next(&tgid, &set) {
		if p := t.program(t.exeOf[tgid]); p != nil {
			for w, bits := range set.Bits {
				for b := 0; b < 64; b++ {
					if bits&(1<<b) != 0 {
						p.syscalls[w*64+b] = true
					}
				}
			}
		}
	}
	var exitErr *exec.ExitError
	if werr != nil && !errors.As(werr, &exitErr) {
		return nil, werr
	}
	return t.finish(), nil
}

// start runs the command, followed from its birth: the child customs
// forks is traced from the fork on, so its exec and everything after it
// is seen.
func (t *tracer) start(ctx context.Context, watch *ebpf.Map, opts Options) error {
	cmd := exec.CommandContext(ctx, opts.Command[0], opts.Command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Dir, cmd.Env = opts.Stdin, opts.Stdout, opts.Stderr, opts.Dir, opts.Env
	// The child is followed from the fork of this thread alone: the
	// goroutine stays on it until the child exists.
	runtime.LockOSThread()
	var zero uint32
	if err := watch.Put(zero, uint32(unix.Gettid())); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	t.profile.Started = time.Now()
	err := cmd.Start()
	watch.Put(zero, uint32(0))
	runtime.UnlockOSThread()
	if err != nil {
		t.profile.Started = time.Time{}
		return fmt.Errorf("starting %s: %w", opts.Command[0], err)
	}
	t.root = uint32(cmd.Process.Pid)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-t.stopped:
		// The offender is left stopped for whoever investigates; customs
		// reports and returns.
	}
	t.profile.Ended = time.Now()
	t.profile.ExitCode = -1
	if cmd.ProcessState != nil {
		t.profile.ExitCode = cmd.ProcessState.ExitCode()
	}
	return werr
}

// attach follows a running process and its descendants until it exits,
// a violation stops it, or ctx ends.
func (t *tracer) attach(ctx context.Context, objs *bpfObjects, pid int) error {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return fmt.Errorf("attaching to pid %d: %w", pid, err)
	}
	t.profile.Command = []string{exe}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		t.profile.Command = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	t.profile.Started = time.Now()
	for _, p := range descendants(pid) {
		if err := objs.Syscalls.Put(uint32(p), bpfSyscallSet{}); err != nil {
			return err
		}
		if err := followThreads(objs.Tasks, p); err != nil {
			return fmt.Errorf("attaching to pid %d: %w", p, err)
		}
		if e, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); err == nil {
			t.mu.Lock()
			t.exeOf[uint32(p)] = e
			t.mu.Unlock()
		}
	}
	// Every CPU forgets what it knew of these threads: not followed. The
	// kernel may bump the epoch between this read and write; a value it
	// cannot have reached still differs from every one a CPU holds.
	var epoch uint64
	if err := objs.Epoch.Lookup(uint32(0), &epoch); err != nil {
		return err
	}
	if err := objs.Epoch.Put(uint32(0), epoch+1<<32); err != nil {
		return err
	}
	t.root = uint32(pid)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-t.stopped:
		case <-tick.C:
			if unix.Kill(pid, 0) == nil {
				if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || !zombie(st) {
					continue
				}
			}
		}
		t.profile.Ended = time.Now()
		t.profile.ExitCode = -1
		return nil
	}
}

// followThreads marks every thread of process pid as followed. A thread
// started by a marked thread is marked by the kernel (on_fork); one started
// meanwhile by a thread not yet marked is found by the next pass.
func followThreads(tasks *ebpf.Map, pid int) error {
	marked := map[int]bool{}
	for {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		added := 0
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || marked[tid] {
				continue
			}
			fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
			if err != nil {
				continue // the thread has ended
			}
			err = tasks.Put(uint32(fd), bpfTaskState{})
			unix.Close(fd)
			if err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
			marked[tid] = true
			added++
		}
		if added == 0 {
			return nil
		}
	}
}

// zombie reads the state field of /proc/PID/stat.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// descendants is pid and every process below it now.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		fields := strings.Fields(string(st[i+1:]))
		if len(fields) > 1 {
			if pp, err := strconv.Atoi(fields[1]); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
