package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
)

// app holds what every command shares: streams, environment and global
// flags. It is built per run; nothing here is global.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	verbose  int
	quiet    bool
	cacheDir string
	// terminal reports whether a stream is a terminal; nil asks the OS.
	terminal func(io.Writer) bool
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) error {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	// A usage mistake points to the help of the command it was made in.
	if ue, ok := err.(usageError); ok && ue.help == "" && cmd != nil {
		ue.help = cmd.CommandPath()
		err = ue
	}
	return err
}

// color reports whether output to w may be coloured: on a terminal, unless
// NO_COLOR is set (https://no-color.org).
func (a *app) color(w io.Writer) bool {
	return a.getenv("NO_COLOR") == "" && a.isTerminal(w)
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "customs",
		Short: "A supply-chain gate for container images and Go modules",
		Long: `customs inspects what you import: it pulls container images and Go modules,
lists what is inside them (SBOMs), and checks them against vulnerability data,
signatures and declared capabilities.

Targets:
  registry.example/repo:tag    an image in a registry (tags are resolved to a digest)
  repo@sha256:DIGEST           an image by digest
  oci:DIR[:tag]                an OCI image layout directory
  docker-archive:FILE          a "docker save" tarball, plain or gzip-compressed
  oci-archive:FILE             a tarred OCI image layout
  dir:PATH, or an existing path  a source tree or root filesystem
  gomod:MODULE@VERSION         a Go module through GOPROXY, checksums verified (@latest works)
  sbom:FILE                    an existing SBOM (CycloneDX, SPDX or syft JSON)

Exit codes: 0 passed, 1 the policy failed, 2 customs could not do its job.`,
		Example: `  customs sbom gomod:github.com/tidwall/gjson@v1.6.5 -o table
  customs sbom alpine:3.19 --platform linux/arm64 -o spdx-json=alpine.spdx.json
  customs sbom docker-archive:image.tar.gz -o cyclonedx-json=sbom.cdx.json -o table`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().CountVarP(&a.verbose, "verbose", "v", "log more detail to stderr (repeat for debug)")
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "show no progress on stderr")
	root.PersistentFlags().StringVar(&a.cacheDir, "cache-dir", "", "cache directory (default $CUSTOMS_CACHE, else the user cache dir + /customs)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err: err, help: c.CommandPath()} })
	root.AddCommand(a.newSBOMCmd(), a.newScanCmd(), a.newVerifyCmd(), a.newCapsCmd(), a.newTraceCmd(), a.newDiffCmd(), a.newServeCmd(), a.newDBCmd(), a.newVersionCmd())
	// cobra adds completion when it runs; added now, its shells' group
	// refuses an unknown shell like the others.
	root.InitDefaultCompletionCmd()
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (caps, db, completion) refuse an unknown subcommand as bad usage, exit
// 2, where cobra would print the help and exit 0: a script that mistypes
// "customs db updte" must not pass. Without arguments they print the help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{err: fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath()), help: c.CommandPath()}
		}
		return c.Help()
	}
}

func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case a.verbose == 1:
		level = slog.LevelInfo
	case a.verbose > 1:
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// cachePath is --cache-dir, else $CUSTOMS_CACHE, else the user cache
// directory, computed from the injected environment.
func (a *app) cachePath() string {
	if a.cacheDir != "" {
		return a.cacheDir
	}
	if d := a.getenv("CUSTOMS_CACHE"); d != "" {
		return d
	}
	if d := a.getenv("XDG_CACHE_HOME"); d != "" && runtime.GOOS != "darwin" {
		return filepath.Join(d, "customs")
	}
	home := a.getenv("HOME")
	if home == "" {
		return filepath.Join(os.TempDir(), "customs-cache")
	}
	if runtime.GOOS == "darwin" {
		return filepath.Join(home, "Library", "Caches", "customs")
	}
	return filepath.Join(home, ".cache", "customs")
}
