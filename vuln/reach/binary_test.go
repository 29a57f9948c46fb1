package reach

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// buildInlined builds a program whose function double is inlined into
// main and kept nowhere else: only the inline tree names it.
func buildInlined(t testing.TB, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/inl\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import "os"

func double(n int) int {
	if n > 100 {
		panic("too many arguments")
	}
	return 2 * n
}

func main() { os.Exit(double(len(os.Args)) - 2) }
`), 0o644)
	out := filepath.Join(dir, "inl")
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// TestReadBinaryInlined: a function the compiler inlined everywhere is
// found through the inline trees, in executables built every way.
func TestReadBinaryInlined(t *testing.T) {
	for _, flags := range [][]string{nil, {"-ldflags=-s -w"}, {"-buildmode=pie"}, {"-buildmode=pie", "-ldflags=-s -w"}} {
		bin := buildInlined(t, flags...)
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadBinary(f)
		f.Close()
		if err != nil {
			t.Fatalf("%v: %v", flags, err)
		}
		if !b.Inlined || !b.Symbols["example.com/inl"]["double"] || !b.Symbols["example.com/inl"]["main"] {
			t.Errorf("%v: inlined %v, symbols of the main package %v; want double found in main's inline tree", flags, b.Inlined, b.Symbols["example.com/inl"])
		}
		if b.GOOS != "linux" || b.GOARCH != "amd64" || b.Path != "example.com/inl" {
			t.Errorf("%v: %s/%s path %q", flags, b.GOOS, b.GOARCH, b.Path)
		}
	}
}

// TestReadBinaryRejects: what is not a Go executable is refused, not read.
func TestReadBinaryRejects(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("\x7fELF"), []byte("#!/bin/sh\necho hi\n")} {
		if _, err := ReadBinary(bytes.NewReader(in)); err == nil {
			t.Errorf("%q: read as a Go executable", in)
		}
	}
}

// FuzzReadBinary: executables come from images anyone can push; any
// bytes give a Binary or an error, never a crash. Seeds are a real
// executable and truncations of it.
func FuzzReadBinary(f *testing.F) {
	if testing.Short() {
		f.Skip("skipping in -short: builds a seed executable")
	}
	seed, err := os.ReadFile(buildInlined(f))
	if err == nil {
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bin, err := ReadBinary(bytes.NewReader(b))
		if err == nil && bin == nil {
			t.Fatal("no error and no binary")
		}
	})
}

// TestBinaryJSON: the stored form reads back as the Binary it was, read
// or not.
func TestBinaryJSON(t *testing.T) {
	for _, b := range []*Binary{
		{Path: "example.com/a", GOOS: "linux", GOARCH: "arm64", Inlined: true, Symbols: map[string]map[string]bool{"example.com/a": {"main": true, "T.M": true}, "fmt": {}}},
		{Path: "example.com/b"},
	} {
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var got Binary
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, b) {
			t.Errorf("%s read back as %+v, want %+v", enc, got, *b)
		}
	}
}

// TestBinaryJSONRoundTrips: the cached form of a Binary reads back equal,
// an unreadable function table (nil Symbols) included.
func TestBinaryJSONRoundTrips(t *testing.T) {
	for _, b := range []*Binary{
		{Path: "example.com/app", Main: "example.com/app", GoVersion: "go1.26.8", GOOS: "linux", GOARCH: "amd64", Inlined: true,
			Symbols: map[string]map[string]bool{"example.com/app": {"main": true}, "github.com/tidwall/gjson": {"Get": true, "Result.ForEach": true}, "empty": {}}},
		{Path: "x"},
	} {
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var got Binary
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, b) {
			t.Errorf("round trip of %+v gave %+v (%s)", b, got, raw)
		}
	}
}
