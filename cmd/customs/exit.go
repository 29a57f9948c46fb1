package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/customs-dev/customs/internal/hint"
)

// Exit codes, for every command.
const (
	exitPassed = 0 // the checks passed
	exitPolicy = 1 // the policy failed: findings over the threshold, a failed verification, an undeclared capability
	exitError  = 2 // customs could not do its job: bad usage, unreadable input, network or registry failure
)

// policyFailure is implemented by errors that mean "the policy said no"
// rather than "something broke".
type policyFailure interface {
	PolicyFailure() bool
}

// exitCode maps an error to the exit code and prints it. It is the only
// place that decides exit codes.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitPassed
	}
	var pf policyFailure
	if errors.As(err, &pf) && pf.PolicyFailure() {
		if _, shown := err.(shownError); !shown {
			fmt.Fprintf(stderr, "customs: %s\n", hint.Word(err, flag))
		}
		return exitPolicy
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "customs: interrupted")
		return exitError
	}
	fmt.Fprintf(stderr, "customs: %s\n", hint.Word(err, flag))
	return exitError
}

// flag spells a setting named in a library's hint as the flag that sets
// it: every setting a library names is a flag of the same name here.
func flag(setting string) string { return "--" + setting }

// usageError is a mistake on the command line; help is the command whose
// --help explains it ("customs scan"), set by run when not given.
type usageError struct {
	err  error
	help string
}

func (e usageError) Error() string {
	help := e.help
	if help == "" {
		help = "customs"
	}
	return e.err.Error() + " (see " + help + " --help)"
}
func (e usageError) Unwrap() error { return e.err }

// shownError is an error the output already showed where the user reads it:
// the table's FAILED line on the terminal that is also stderr. exitCode
// keeps quiet about it instead of saying it twice.
type shownError struct{ error }

func (e shownError) Unwrap() error { return e.error }
