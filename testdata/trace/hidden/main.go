// Command hidden is traced in customs' tests: besides what example.com/dep
// does (connect, write a file, run /bin/true), it removes the file dep
// wrote through reflection, a call no static call graph sees: checking its
// trace with its code must report that as the static analysis's miss.
package main

import (
	"fmt"
	"os"
	"reflect"

	"example.com/dep"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: hidden ADDRESS FILE")
		os.Exit(2)
	}
	fmt.Println("result:", dep.Work(os.Args[1], os.Args[2]))
	out := reflect.ValueOf(os.Remove).Call([]reflect.Value{reflect.ValueOf(os.Args[2])})
	fmt.Println("removed:", out[0].Interface())
}
