// Package govulncheck reads what govulncheck -format json says, for the
// tests and benchmarks that hold customs' reachability against it.
package govulncheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Finding is the deepest of what govulncheck reports for one
// vulnerability: its level ("called", "imported", "required") and its
// example trace, the vulnerable function first and the entry point last.
type Finding struct {
	Level string
	Trace []Frame
}

// Frame is a step of a trace.
type Frame struct {
	Module   string `json:"module"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

// Pos is a frame's file:line, "" without a position.
func (f Frame) Pos() string {
	if f.Position == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", f.Position.Filename, f.Position.Line)
}

var rank = map[string]int{"required": 1, "imported": 2, "called": 3}

// Read reads govulncheck's JSON stream: each vulnerability's deepest
// finding, by OSV ID. A trace that starts at a function is called; at a
// package, imported; otherwise required.
func Read(out []byte) (map[string]Finding, error) {
	found := map[string]Finding{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var msg struct {
			Finding *struct {
				OSV   string  `json:"osv"`
				Trace []Frame `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return found, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck's JSON: %w", err)
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		l := "required"
		switch {
		case f.Trace[0].Function != "":
			l = "called"
		case f.Trace[0].Package != "":
			l = "imported"
		}
		if rank[l] > rank[found[f.OSV].Level] {
			found[f.OSV] = Finding{Level: l, Trace: f.Trace}
		}
	}
}
