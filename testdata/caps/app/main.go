// Command app is a test program whose dependency, example.com/evil,
// runs a program, dials the network and writes a file; the program itself
// does none of that.
package main

import (
	"fmt"
	"strings"

	"example.com/evil"
)

func main() {
	fmt.Println(strings.ToUpper("report:"), evil.Do())
}
