package capabilities

import "strings"

// Capability is a name of the taxonomy Go capability analysis uses
// (google/capslock): a top-level name such as NETWORK, or a
// sub-capability written PARENT/CHILD such as NETWORK/CONNECT.
type Capability string

// The capabilities. A parent grants its children; All grants everything.
const (
	Files                Capability = "FILES"
	FilesRead            Capability = "FILES/READ"
	FilesWrite           Capability = "FILES/WRITE"
	Network              Capability = "NETWORK"
	NetworkConnect       Capability = "NETWORK/CONNECT"
	NetworkListen        Capability = "NETWORK/LISTEN"
	Exec                 Capability = "EXEC"
	ReadSystemState      Capability = "READ_SYSTEM_STATE"
	ModifySystemState    Capability = "MODIFY_SYSTEM_STATE"
	ModifySystemStateEnv Capability = "MODIFY_SYSTEM_STATE/ENV"
	OperatingSystem      Capability = "OPERATING_SYSTEM"
	SystemCalls          Capability = "SYSTEM_CALLS"
	ArbitraryExecution   Capability = "ARBITRARY_EXECUTION"
	CGo                  Capability = "CGO"
	UnsafePointer        Capability = "UNSAFE_POINTER"
	Reflect              Capability = "REFLECT"
	Runtime              Capability = "RUNTIME"
	Unanalyzed           Capability = "UNANALYZED"
	// Indirect is a call through an interface or a function value to a
	// standard-library value no non-standard code made: what it exercises
	// cannot be charged to a maker. Checks do not hold it against the
	// declaration.
	Indirect Capability = "INDIRECT"
	All      Capability = "ALL"
)

// Known lists every capability name, parents before their children.
var Known = []Capability{
	Files, FilesRead, FilesWrite,
	Network, NetworkConnect, NetworkListen,
	Exec,
	ReadSystemState,
	ModifySystemState, ModifySystemStateEnv,
	OperatingSystem, SystemCalls, ArbitraryExecution, CGo, UnsafePointer, Reflect, Runtime, Unanalyzed,
	Indirect,
}

// Valid reports whether c is a capability name (or ALL).
func (c Capability) Valid() bool {
	if c == All {
		return true
	}
	for _, k := range Known {
		if k == c {
			return true
		}
	}
	return false
}

// Parent is the capability c is a child of, or "" for a top-level one.
func (c Capability) Parent() Capability {
	if i := strings.LastIndexByte(string(c), '/'); i >= 0 {
		return c[:i]
	}
	return ""
}

// Covers reports whether granting c grants d: c is d, one of d's
// ancestors, or ALL.
func (c Capability) Covers(d Capability) bool {
	for ; d != ""; d = d.Parent() {
		if c == d || c == All {
			return true
		}
	}
	return c == All
}
