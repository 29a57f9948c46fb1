//go:build !linux

package exemap

// Trim does nothing here: the executable is trimmed on Linux only.
func Trim() {}
