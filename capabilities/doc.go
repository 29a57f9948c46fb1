// Package capabilities is what Go modules may do and can do: the
// capabilities.txt declaration, and the static analysis that finds, per
// module, which capabilities its code reaches in the standard library.
package capabilities
