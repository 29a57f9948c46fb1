// Package exemap trims what a process keeps mapped of its own executable.
// It is a package of its own so that internal/startup, which must
// initialise before nearly every other package, imports nothing.
package exemap
