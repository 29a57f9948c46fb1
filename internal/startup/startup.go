// Package startup lets the garbage collector rest while customs' hundreds
// of dependencies initialise. Their initialisation allocates about 7 MB,
// mostly kept (compiled expressions, tables), which at the default GOGC
// costs collections during start-up. cmd/customs imports this package;
// it imports nothing that has an init, so the runtime, which initialises
// ready packages in import-path order, runs its init before nearly every
// other. Done, first thing in main, restores the setting from before, so
// a GOGC the user set rules the run.
package startup

import _ "unsafe" // go:linkname

// setGCPercent is runtime/debug.SetGCPercent without runtime/debug, whose
// imports (fmt, os, time) would make this package initialise after half
// of the others.
//
//go:linkname setGCPercent runtime/debug.setGCPercent
func setGCPercent(int32) int32

// restGCPercent is the GOGC while packages initialise: a customs process's
// heap at the end of initialisation stays under 16 MB.
const restGCPercent = 400

var (
	previous int32
	resting  bool
)

func init() {
	previous, resting = setGCPercent(restGCPercent), true
}

// Done restores the garbage collector's setting from before init.
func Done() {
	if resting {
		setGCPercent(previous)
		resting = false
	}
}
