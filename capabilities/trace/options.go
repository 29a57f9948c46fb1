package trace

import (
	"errors"
	"io"
)

// ErrUnavailable is a kernel or privilege that does not let customs load
// and attach its BPF programs.
var ErrUnavailable = errors.New("eBPF tracing is unavailable here (it needs Linux on amd64, root or CAP_BPF+CAP_PERFMON, BTF, and tracefs)")

// Options say what to trace.
type Options struct {
	// Command is the program and its arguments.
	Command []string
	// Dir and Env are the command's; nil Env is customs' own.
	Dir string
	Env []string
	// The command's standard streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}
