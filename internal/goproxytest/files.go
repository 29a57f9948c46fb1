package goproxytest

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type ioReadCloser = io.ReadCloser

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

type memFile struct{ name, body string }

func (f memFile) Path() string                { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error) { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) {
	return nopCloser{strings.NewReader(f.body)}, nil
}

type memInfo memFile

func (i memInfo) Name() string       { return filepath.Base(i.name) }
func (i memInfo) Size() int64        { return int64(len(i.body)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

func writeTemp(t testing.TB, b []byte) string {
	f, err := os.CreateTemp(t.TempDir(), "zip-")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
	return f.Name()
}
