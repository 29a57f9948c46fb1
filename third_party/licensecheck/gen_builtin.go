//go:build ignore

// gen_builtin writes builtin.compiled, the compiled scanner of the
// built-in licenses: go generate in this directory.
package main

import (
	"bytes"
	"log"
	"os"

	"github.com/google/licensecheck"
)

func main() {
	var buf bytes.Buffer
	if err := licensecheck.WriteBuiltin(&buf); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("builtin.compiled", buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
