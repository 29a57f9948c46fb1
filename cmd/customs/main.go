// Command customs is a supply-chain gate for container images and Go
// modules: SBOMs, vulnerabilities, signatures and capabilities.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/customs-dev/customs/internal/exemap"
	"github.com/customs-dev/customs/internal/startup"
)

func main() {
	startup.Done()
	// What package initialisation mapped of the executable and will not
	// use again leaves the resident set.
	exemap.Trim()
	os.Exit(mainCode())
}

// mainCode runs customs with the process's arguments, streams and
// environment and returns the exit code; tests call it through testscript.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	return exitCode(err, os.Stderr)
}
