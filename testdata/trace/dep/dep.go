// Package dep connects out, writes a file and runs a program: what the
// trace must charge to it rather than to the program that imports it.
package dep

import (
	"errors"
	"net"
	"os"
	"os/exec"
)

// Work dials address, writes file and runs /bin/true from a goroutine.
func Work(address, file string) error {
	conn, err := net.Dial("tcp", address)
	if err == nil {
		conn.Close()
	}
	werr := os.WriteFile(file, []byte("written by example.com/dep\n"), 0o600)
	done := make(chan error)
	go func() { done <- exec.Command("/bin/true").Run() }()
	return errors.Join(err, werr, <-done)
}
