package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by the release build: -ldflags "-X main.version=… -X main.commit=…".
var (
	version = ""
	commit  = ""
)

type buildVersion struct {
	Version, Commit, GoVersion string
}

func readVersion() buildVersion {
	v := buildVersion{Version: version, Commit: commit, GoVersion: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.GoVersion = bi.GoVersion
		if v.Version == "" && bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && v.Commit == "" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of customs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readVersion()
			fmt.Fprintf(a.stdout, "customs %s\ncommit: %s\ngo: %s\n", v.Version, v.Commit, v.GoVersion)
			return nil
		},
	}
}
