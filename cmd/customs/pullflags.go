package main

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
)

// pullFlags are the flags of every command that fetches a target.
type pullFlags struct {
	platform string
	insecure []string
}

func (f *pullFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform of a multi-platform image, os/arch[/variant] (default: the host's)")
	cmd.Flags().StringArrayVar(&f.insecure, "insecure-registry", nil, "reach this registry HOST[:PORT] over plain HTTP (repeatable; loopback hosts need not be named)")
}

// oneTarget checks that a command was given exactly one TARGET.
func oneTarget(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("%s takes exactly one TARGET, got %d", cmd.Name(), len(args))}
	}
	return nil
}

// options builds pull options from the flags and the injected environment.
func (f *pullFlags) options(a *app, cmd *cobra.Command) (pull.Options, error) {
	store, err := cas.Open(a.cachePath())
	if err != nil {
		return pull.Options{}, err
	}
	opts := pull.Options{
		Cache:              store,
		Keychain:           authn.DefaultKeychain,
		InsecureRegistries: f.insecure,
		Getenv:             a.getenv,
		Logger:             a.logger(),
		Progress:           newProgress(a.stderr).update,
	}
	if f.platform != "" {
		p, err := pull.ParsePlatform(f.platform)
		if err != nil {
			return pull.Options{}, err
		}
		opts.Platform = p
	}
	return opts, nil
}
