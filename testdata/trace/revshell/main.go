// Command revshell stands for a program whose dependency was turned into
// a remote shell: example.com/backdoor connects out, then starts a shell
// that writes a marker file.
package main

import (
	"fmt"
	"os"

	"example.com/backdoor"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: revshell ADDRESS MARKER")
		os.Exit(2)
	}
	fmt.Println("result:", backdoor.Init(os.Args[1], os.Args[2]))
}
