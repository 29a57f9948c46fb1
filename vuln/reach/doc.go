// Package reach grades how far a Go program reaches the vulnerabilities
// matched against its modules, as govulncheck does: called when a
// vulnerable function is in the program, imported when only a vulnerable
// package is, required when only the module is. It reads a Go
// executable's function table (the pclntab, which stripped executables
// keep) and the functions inlined into them, and the Go vulnerability
// database's symbol data (ecosystem_specific.imports).
package reach
