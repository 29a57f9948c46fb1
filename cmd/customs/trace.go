package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/capabilities/trace"
	"github.com/customs-dev/customs/internal/cas"
)

func (a *app) newTraceCmd() *cobra.Command {
	var out, declared, onViolation, eventsFile string
	var pid int
	cmd := &cobra.Command{
		Use:   "trace [-o profile.json] [--declared capabilities.txt] (-- CMD ARGS... | --pid PID)",
		Short: "Run a command under an eBPF trace and charge what it does to the Go module that did it",
		Long: `Starts CMD and follows its whole process tree (fork, clone, exec) with eBPF:
program executions, connects, binds, listens and accepts, opens that write, create
or truncate, unlinks, renames, chmods and chowns, setuid/setgid/capset, ptrace,
mount, bpf, module loading, memfd_create and executable anonymous memory, plus the
set of system calls of each executable. For Go executables each event is charged
to the module whose code caused it: the user stack (frame pointers) is symbolized
from the executable's .gopclntab (stripped binaries too) and mapped to modules with
its build info; the standard-library function the module called decides the
capability. Other executables are charged as a whole ("main").

--declared holds every event against a capabilities.txt as it happens (exit 1 on an
undeclared module and capability, scopes checked against the arguments).
--on-violation stop or kill (or the declaration's on-violation) pauses the process
from inside the BPF program at each new stack and system call until customs has
decided, then stops or kills an offender: it does not run on. The system call that
triggered it may still complete (a connect is made, a file opened); only a denying
BPF-LSM hook could refuse it, which customs does not install.

Execs of shells, network and attack tools (nc, socat, curl, wget, nmap, tcpdump,
gdb, strace, ...) and miners are flagged in the profile and on stderr even where
capabilities.txt grants EXEC: they are what an intruder runs next.

Needs Linux on amd64 with BTF and root (or CAP_BPF and CAP_PERFMON).`,
		Example: `  customs trace -o json=profile.json -- ./myserver --port 8080
  customs trace --declared capabilities.txt -- go test ./...
  customs caps init --from-profile profile.json > capabilities.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 0) == (pid == 0) {
				return usageError{err: errors.New("name the command to trace after --, customs trace -- CMD ARGS..., or a running process with --pid PID")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// -o is FORMAT=FILE as in every command, and the profile's one
			// format is JSON; a bare FILE stays accepted. The traced program
			// owns stdout, so the profile goes only to a file.
			if format, file, ok := strings.Cut(out, "="); ok {
				if format != "json" {
					return usageError{err: fmt.Errorf("unknown output format %q in -o %s: the profile is json, -o json=FILE", format, out)}
				}
				out = file
			}
			if out != "" {
				if err := outputDir(out); err != nil {
					return fmt.Errorf("-o %s: %w", out, err)
				}
			}
			var decl *capabilities.File
			if declared != "" {
				var err error
				if decl, err = loadDeclaration(declared); err != nil {
					return err
				}
			}
			action := onViolation
			if decl != nil && !cmd.Flags().Changed("on-violation") {
				action = decl.OnViolation
			}
			if decl == nil && cmd.Flags().Changed("on-violation") {
				return usageError{err: errors.New("--on-violation needs --declared capabilities.txt")}
			}
			var events io.Writer
			if eventsFile != "" {
				f, err := os.Create(eventsFile)
				if err != nil {
					return err
				}
				defer f.Close()
				bw := bufio.NewWriter(f)
				defer bw.Flush()
				events = bw
			}
			p, err := trace.Run(cmd.Context(), trace.Options{Events: events, Command: args, PID: pid, Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, Declared: decl, OnViolation: action})
			if err != nil {
				return err
			}
			if out != "" {
				b, err := json.MarshalIndent(p, "", "  ")
				if err != nil {
					return err
				}
				if err := cas.WriteFile(filepath.Clean(out), append(b, '\n'), 0o644); err != nil {
					return fmt.Errorf("writing %s: %w", out, err)
				}
			}
			writeProfileSummary(a, p)
			for _, f := range p.Flags {
				fmt.Fprintf(a.stderr, "customs: FLAGGED: %s ran %s (%s, an intruder's next step, even where EXEC is granted): %s\n", f.Module, f.Program, f.Rule, f.Example)
			}
			for _, v := range p.Violations {
				fmt.Fprintf(a.stderr, "customs: VIOLATION: %s %s (%s) by pid %d of %s: %s\n", v.Module, v.Capability, v.Example, v.PID, v.Executable, v.Action)
			}
			if decl != nil {
				rep := trace.Check(decl, p)
				writeCheckText(a.stderr, rep)
				if !rep.Passed() {
					return capsViolation{len(rep.Violations)}
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&pid, "pid", 0, "attach to this running process (and follow what it starts) until it exits or customs is interrupted")
	cmd.Flags().StringVar(&eventsFile, "events", "", "also write every event (time, pid, tid, executable, system call, module, capability, arguments) to this file, a JSON object per line")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the profile to a file: json=FILE (or just FILE)")
	cmd.Flags().StringVar(&onViolation, "on-violation", trace.OnViolationLog, "what an undeclared capability does to the process that used it: log, stop (SIGSTOP, left stopped) or kill (SIGKILL); default: the declaration's on-violation")
	cmd.Flags().StringVar(&declared, "declared", "", "hold what the command did against this capabilities.txt (exit 1 on an undeclared capability)")
	return cmd
}

func writeProfileSummary(a *app, p *trace.Profile) {
	fmt.Fprintf(a.stderr, "customs: traced %v: exit code %d, %d executables", p.Command, p.ExitCode, len(p.Executables))
	if p.Dropped > 0 {
		fmt.Fprintf(a.stderr, ", %d EVENTS LOST (ring buffer full)", p.Dropped)
	}
	fmt.Fprintln(a.stderr)
	tw := tabwriter.NewWriter(a.stderr, 0, 0, 2, ' ', 0)
	for _, c := range p.Charges {
		ex := ""
		if len(c.Examples) > 0 {
			ex = c.Examples[0]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", filepath.Base(c.Executable), c.Module, c.Capability, c.Count, ex)
	}
	tw.Flush()
}
