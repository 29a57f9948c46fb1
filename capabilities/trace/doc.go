// Package trace records what a process tree does with eBPF and charges
// each event to the Go module whose code caused it.
package trace
