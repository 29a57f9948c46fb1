package trace

import (
	"testing"
	"unsafe"
)

// TestEventLayout holds the hand-written event to the C struct, as bpf2go
// generated it from the object's BTF.
func TestEventLayout(t *testing.T) {
	var raw rawEvent
	var gen bpfEvent
	if unsafe.Sizeof(raw) != unsafe.Sizeof(gen) {
		t.Fatalf("rawEvent is %d bytes, struct event %d", unsafe.Sizeof(raw), unsafe.Sizeof(gen))
	}
	for _, f := range []struct {
		name      string
		raw, want uintptr
	}{
		{"nr", unsafe.Offsetof(raw.Nr), unsafe.Offsetof(gen.Nr)},
		{"stack", unsafe.Offsetof(raw.Stack), unsafe.Offsetof(gen.Stack)},
		{"argh", unsafe.Offsetof(raw.ArgHash), unsafe.Offsetof(gen.Argh)},
		{"args", unsafe.Offsetof(raw.Args), unsafe.Offsetof(gen.Args)},
		{"ips", unsafe.Offsetof(raw.IPs), unsafe.Offsetof(gen.Ips)},
		{"str", unsafe.Offsetof(raw.Str), unsafe.Offsetof(gen.Str)},
		{"addr", unsafe.Offsetof(raw.Addr), unsafe.Offsetof(gen.Addr)},
		{"argv", unsafe.Offsetof(raw.Argv), unsafe.Offsetof(gen.Argv)},
	} {
		if f.raw != f.want {
			t.Errorf("%s at %d, struct event has it at %d", f.name, f.raw, f.want)
		}
	}
}
