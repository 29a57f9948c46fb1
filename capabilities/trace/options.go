package trace

import (
	"errors"
	"io"

	"github.com/customs-dev/customs/capabilities"
)

// ErrUnavailable is a kernel or privilege that does not let customs load
// and attach its BPF programs.
var ErrUnavailable = errors.New("eBPF tracing is unavailable here (it needs Linux on amd64, root or CAP_BPF+CAP_PERFMON, BTF, and tracefs)")

// Options say what to trace.
type Options struct {
	// Command is the program and its arguments.
	Command []string
	// PID, instead of a command, is a running process to attach to: it
	// and its descendants are followed until it exits or ctx ends.
	PID int
	// Dir and Env are the command's; nil Env is customs' own.
	Dir string
	Env []string
	// The command's standard streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Events, when set, receives every event as a line of JSON (Event).
	Events io.Writer
	// Declared, when set, is held against every event as it happens.
	Declared *capabilities.File
	// OnViolation is what an undeclared capability does to the process
	// that used it: OnViolationLog (it runs on; reported), OnViolationStop
	// (SIGSTOP, left stopped) or OnViolationKill (SIGKILL). Stop and kill
	// pause the process at each new (stack, system call) from inside the
	// BPF program until customs has decided, so an offender does not run
	// on; the system call that triggered it may still complete.
	OnViolation string

	// ringBytes, for tests, shrinks the ring buffer (a power of two of at
	// least a page) so that events are dropped.
	ringBytes uint32
}

// The actions on a violation.
const (
	OnViolationLog  = "log"
	OnViolationStop = "stop"
	OnViolationKill = "kill"
)
