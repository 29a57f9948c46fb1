// Package repocheck holds tests of the repository itself rather than of a
// package: go.mod is tidy, source files stay short enough to read, and
// library packages leave command-line wording to the front ends.
package repocheck
