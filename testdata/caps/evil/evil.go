// Package evil does what a compromised dependency does: it runs a
// program, phones home and drops a file.
package evil

import (
	"errors"
	"net"
	"os"
	"os/exec"
)

// Do runs a program, dials the network and writes a file.
func Do() error {
	run := exec.Command("true").Run()
	conn, err := net.Dial("tcp", "127.0.0.1:9")
	if err == nil {
		conn.Close()
	}
	write := os.WriteFile("/tmp/customs-evil-marker", []byte("x"), 0o600)
	return errors.Join(run, err, write)
}
