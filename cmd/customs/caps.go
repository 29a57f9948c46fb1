package main

import (
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
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/scan"
)

// capsFlags choose what is built when Go code is analyzed.
type capsFlags struct {
	goos, goarch string
	tags         []string
	packages     []string
	all          bool
	outputs      []string
	// pull are the fetching flags of the caps commands, which take images
	// and modules as scan does.
	pull pullFlags
}

func (f *capsFlags) register(cmd *cobra.Command, withOutput bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.goos, "goos", "", "analyze the files built for this GOOS (default: the go command's)")
	fl.StringVar(&f.goarch, "goarch", "", "analyze the files built for this GOARCH (default: the go command's)")
	fl.StringSliceVar(&f.tags, "tags", nil, "build tags, comma-separated, as for go build -tags")
	fl.StringSliceVar(&f.packages, "packages", nil, "the packages to analyze, as go list patterns relative to the module's root or the directory (default ./...): ./cmd/crane analyzes crane's main and what it reaches")
	fl.BoolVar(&f.all, "all", false, "analyze every function of every package, not only what the entry points reach (main and init of main packages, the exported API of the others), and show INDIRECT calls (through values the standard library made)")
	if withOutput {
		fl.StringArrayVarP(&f.outputs, "output", "o", nil, "output FORMAT[=FILE] (repeatable): text (default) or json")
	}
}

// build is how Go source is built for analysis.
func (f *capsFlags) build() capabilities.Options {
	return capabilities.Options{GOOS: f.goos, GOARCH: f.goarch, Tags: f.tags, Patterns: f.packages, All: f.all}
}

const capsTargets = `TARGET is a directory (the packages under it: DIR/... or DIR), dir:PATH,
gomod:MODULE@VERSION (the module through GOPROXY, checksums verified, analyzed
with its dependencies), a compiled Go executable (x86-64 or arm64 ELF,
stripped or not: its direct calls into the standard library, read from the
machine code; calls through interfaces are not seen), or an image as customs
scan takes it (registry.example/repo:tag, oci:DIR, docker-archive:FILE,
oci-archive:FILE: the Go executables in it, fetched with the same flags and
limits); customs caps diff and check also read the JSON that customs caps
analyze -o json writes.`

func (a *app) newCapsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "caps",
		Short: "What Go modules can do: analyze capabilities, declare them, check and diff them",
		Long: `Static capability analysis of Go code: which capabilities (FILES, NETWORK, EXEC,
SYSTEM_CALLS, UNSAFE_POINTER, REFLECT, ...) each module's code reaches in the
standard library, found along a VTA call graph, with one call path each; and
capabilities.txt, the declaration of what each module may do (docs/capabilities.md).

` + capsTargets,
	}
	cmd.AddCommand(a.newCapsAnalyzeCmd(), a.newCapsInitCmd(), a.newCapsCheckCmd(), a.newCapsDiffCmd())
	return cmd
}

func (a *app) newCapsAnalyzeCmd() *cobra.Command {
	var cf capsFlags
	cmd := &cobra.Command{
		Use:   "analyze TARGET",
		Short: "List the capabilities each module's code reaches, with a call path for each",
		Long: `Lists, per module, the capabilities its code reaches: "direct" when its own code
calls the standard-library function, "via M" when it reaches it only through module
M's code; with one call path from an entry point (main and init of main packages,
the exported API of the others) through the module's function to the standard
library. A call through an interface or a function value is charged to the module
that made the value; one whose value the standard library made is INDIRECT, shown
with --all (which also analyzes every function, reached or not).

` + capsTargets,
		Example: `  customs caps analyze ./...
  customs caps analyze gomod:golang.org/x/crypto@v0.52.0 -o json > caps.json
  customs caps analyze . --goos windows --tags netgo`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(cf.outputs, textOrJSON, "text")
			if err != nil {
				return err
			}
			res, err := a.analyzeCaps(cmd, args[0], cf)
			if err != nil {
				return err
			}
			return a.emit(outs, func(w io.Writer, format string) error {
				if format == "json" {
					return a.to(w).writeJSON(res)
				}
				if !cf.all {
					// Calls through values the standard library made are
					// not held against a declaration; --all shows them.
					return writeCapsText(w, res.Without(capabilities.Indirect))
				}
				return writeCapsText(w, res)
			})
		},
	}
	cf.register(cmd, true)
	cf.pull.register(cmd)
	return cmd
}

func (a *app) newCapsInitCmd() *cobra.Command {
	var cf capsFlags
	var fromProfile string
	cmd := &cobra.Command{
		Use:   "init TARGET > capabilities.txt",
		Short: "Write a capabilities.txt that grants exactly what the code does now",
		Long: `Analyzes TARGET and prints a capabilities.txt granting each module exactly the
capabilities its own code exercises, one line per module and capability, with a
comment saying where the call is. Review it, trim it, commit it; customs caps check
and customs scan then hold the code to it. With --from-profile, the grants are what
customs trace saw the program do.

` + capsTargets,
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (fromProfile != "") {
				return usageError{err: errors.New("caps init takes one TARGET, or --from-profile profile.json")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if fromProfile != "" {
				p, err := readProfile(fromProfile)
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(trace.Declaration(p).Format())
				return err
			}
			res, err := a.analyzeCaps(cmd, args[0], cf)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(capabilities.Declaration(res).Format())
			return err
		},
	}
	cf.register(cmd, false)
	cf.pull.register(cmd)
	cmd.Flags().StringVar(&fromProfile, "from-profile", "", "propose the declaration from what customs trace saw (a profile.json) instead")
	return cmd
}

// capsViolation is the policy failure of a check: exit 1.
type capsViolation struct{ n int }

func (e capsViolation) Error() string {
	if e.n == 1 {
		return "1 capability is used but not declared"
	}
	return fmt.Sprintf("%d capabilities are used but not declared", e.n)
}
func (capsViolation) PolicyFailure() bool { return true }

func (a *app) newCapsCheckCmd() *cobra.Command {
	var cf capsFlags
	var declared, profile string
	cmd := &cobra.Command{
		Use:   "check --declared capabilities.txt TARGET",
		Short: "Fail when a module's code does what capabilities.txt does not grant it",
		Long: `Holds what each module's own code does against the declaration: exit 1 listing
every (module, capability) found but not granted, with the call path; warnings for
grants no code uses. A module's code is charged for the calls it makes itself; what
it reaches through another module is that module's to declare.

` + capsTargets,
		Example: `  customs caps check --declared capabilities.txt ./...
  customs caps check --declared capabilities.txt --profile profile.json
  customs caps check --declared capabilities.txt --profile profile.json .   # both, and where they disagree`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || len(args) == 0 && profile == "" {
				return usageError{err: errors.New("caps check takes one TARGET, --profile profile.json (from customs trace), or both")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if declared == "" {
				return usageError{err: errors.New("--declared capabilities.txt is required (customs caps init writes one)")}
			}
			outs, err := parseOutputs(cf.outputs, textOrJSON, "text")
			if err != nil {
				return err
			}
			f, err := loadDeclaration(declared)
			if err != nil {
				return err
			}
			var p *trace.Profile
			if profile != "" {
				if p, err = readProfile(profile); err != nil {
					return err
				}
			}
			var res *capabilities.Result
			if len(args) == 1 {
				if res, err = a.analyzeCaps(cmd, args[0], cf); err != nil {
					return err
				}
			}
			var rep *capabilities.Report
			switch {
			case p != nil && res != nil:
				rep = trace.Agree(f, res, p)
			case p != nil:
				rep = trace.Check(f, p)
			default:
				rep = capabilities.Check(f, res)
			}
			err = a.emit(outs, func(w io.Writer, format string) error {
				if format == "json" {
					return a.to(w).writeJSON(rep)
				}
				writeCheckText(w, rep)
				return nil
			})
			if err != nil {
				return err
			}
			if !rep.Passed() {
				return capsViolation{len(rep.Violations)}
			}
			return nil
		},
	}
	cf.register(cmd, true)
	cf.pull.register(cmd)
	cmd.Flags().StringVar(&declared, "declared", "", "the capabilities.txt to check against")
	cmd.Flags().StringVar(&profile, "profile", "", "check what customs trace saw (profile.json): scopes are checked against the arguments; with a TARGET too, both views, and what the trace saw that the static analysis missed")
	return cmd
}

func (a *app) newCapsDiffCmd() *cobra.Command {
	var cf capsFlags
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Which module gained or lost which capability between two versions",
		Long: `Analyzes OLD and NEW (two module versions, two directories, or two JSON results of
customs caps analyze) and lists, per module, the capabilities its own code gained
(+) or lost (-): what can my dependencies do now that they could not before?

` + capsTargets,
		Example: `  customs caps diff gomod:github.com/acme/lib@v1.2.0 gomod:github.com/acme/lib@v1.3.0
  customs caps diff main.json pr.json -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{err: fmt.Errorf("caps diff takes OLD and NEW, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(cf.outputs, textOrJSON, "text")
			if err != nil {
				return err
			}
			old, err := a.analyzeCaps(cmd, args[0], cf)
			if err != nil {
				return err
			}
			new, err := a.analyzeCaps(cmd, args[1], cf)
			if err != nil {
				return err
			}
			changes := capabilities.Diff(old, new)
			return a.emit(outs, func(w io.Writer, format string) error {
				if format == "json" {
					if changes == nil {
						changes = []capabilities.Change{}
					}
					return a.to(w).writeJSON(changes)
				}
				if len(changes) == 0 {
					fmt.Fprintln(w, "No module gained or lost a capability.")
					return nil
				}
				for _, c := range changes {
					sign := "-"
					if c.Added {
						sign = "+"
					}
					fmt.Fprintf(w, "%s %s %s\n", sign, c.Module, c.Capability)
					if c.Added {
						writePath(w, "    ", c.Path)
					}
				}
				return nil
			})
		},
	}
	cf.register(cmd, true)
	cf.pull.register(cmd)
	return cmd
}

// analyzeCaps analyzes a caps TARGET as scan does, or reads a saved JSON
// result.
func (a *app) analyzeCaps(cmd *cobra.Command, arg string, cf capsFlags) (*capabilities.Result, error) {
	if strings.HasSuffix(arg, ".json") {
		return readCapsJSON(arg)
	}
	t, err := capsTarget(arg)
	if err != nil {
		return nil, err
	}
	popts, err := cf.pull.options(a, cmd)
	if err != nil {
		return nil, err
	}
	s := &scan.Scanner{Cache: popts.Cache, Pull: popts, SBOM: cf.pull.sbomOptions(popts.Cache, popts.Logger, popts.Progress), Logger: popts.Logger, Spell: flag}
	res, _, err := s.Capabilities(cmd.Context(), t, cf.build())
	if err != nil && t.Kind == pull.Dir && isExecutable(t.Ref) {
		// An executable customs cannot read is the user's to change.
		return nil, usageError{err: err}
	}
	return res, err
}

// capsTarget reads a caps TARGET: pull.ParseTarget's, where a directory
// may be written as a package pattern (DIR/...), and a bare name that
// names no file is a missing directory rather than an image.
func capsTarget(arg string) (pull.Target, error) {
	notDir := usageError{err: fmt.Errorf("%s is not a directory, a gomod:MODULE@VERSION or a .json result", arg)}
	var t pull.Target
	if rest, ok := strings.CutSuffix(arg, "..."); ok && (rest == "" || strings.HasSuffix(rest, "/") || rest == "dir:") {
		t = pull.Target{Kind: pull.Dir, Ref: strings.TrimPrefix(rest, "dir:"), Input: arg}
	} else {
		var err error
		if t, err = parseTarget(arg); err != nil {
			return t, err
		}
		if t.Kind == pull.Registry && t.Ref == arg && !strings.ContainsAny(arg, "/:@") {
			return t, notDir
		}
		if t.Kind != pull.Dir {
			return t, nil
		}
	}
	dir := strings.TrimSuffix(t.Ref, string(filepath.Separator))
	if dir == "" {
		dir = "."
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() && !isExecutable(dir) {
		return t, notDir
	}
	abs, err := filepath.Abs(dir)
	t.Ref = abs
	return t, err
}

func readProfile(file string) (*trace.Profile, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	p, err := trace.ParseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

func readCapsJSON(file string) (*capabilities.Result, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	r, err := capabilities.ParseResult(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return r, nil
}

func writeCapsText(w io.Writer, res *capabilities.Result) error {
	for _, m := range res.Modules {
		head := m.Path
		if m.Version != "" {
			head += "@" + m.Version
		}
		if m.Main {
			head += " (main module)"
		}
		if len(m.Capabilities) == 0 {
			fmt.Fprintf(w, "%s: no capabilities\n", head)
			continue
		}
		fmt.Fprintf(w, "%s\n", head)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range m.Capabilities {
			how := "direct"
			if !f.Direct {
				how = "via " + strings.Join(f.Via, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Capability, how, capabilities.PathString(f.Path))
		}
		tw.Flush()
	}
	return nil
}

func writeCheckText(w io.Writer, rep *capabilities.Report) {
	for _, v := range rep.Violations {
		fmt.Fprintf(w, "NOT DECLARED: %s %s\n", v.Module, v.Capability)
		writePath(w, "    ", v.Path)
	}
	for _, v := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s %s is not declared (allowed by \"unlisted warn\")\n", v.Module, v.Capability)
	}
	for _, u := range rep.Unused {
		fmt.Fprintf(w, "warning: %s:%d grants %s %s, which no code uses\n", rep.Declared, u.Line, u.Subject, u.Capability)
	}
	for _, v := range rep.StaticMisses {
		fmt.Fprintf(w, "STATIC MISS: the trace saw %s exercise %s, which the static analysis does not charge it with (please report it)\n", v.Module, v.Capability)
		writePath(w, "    ", v.Path)
	}
	if rep.Passed() {
		fmt.Fprintf(w, "OK: every capability the code exercises is declared in %s\n", rep.Declared)
	}
}

func writePath(w io.Writer, indent string, path []capabilities.Frame) {
	for i, f := range path {
		arrow := ""
		if i > 0 {
			arrow = "-> "
		}
		if f.Pos != "" {
			fmt.Fprintf(w, "%s%s%s  %s\n", indent, arrow, f.Function, f.Pos)
		} else {
			fmt.Fprintf(w, "%s%s%s\n", indent, arrow, f.Function)
		}
	}
}

// isExecutable reports whether a path is a regular file that starts like
// an ELF executable.
func isExecutable(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	return err == nil && string(head) == "\x7fELF"
}
