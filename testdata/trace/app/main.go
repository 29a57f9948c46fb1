// Command traced is traced in customs' tests: its dependency,
// example.com/dep, connects to ADDRESS, writes FILE and runs /bin/true
// from a goroutine; the program itself only prints.
package main

import (
	"fmt"
	"os"

	"example.com/dep"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: traced ADDRESS FILE")
		os.Exit(2)
	}
	fmt.Println("result:", dep.Work(os.Args[1], os.Args[2]))
}
