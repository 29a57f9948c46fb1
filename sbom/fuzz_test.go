package sbom

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// FuzzDecode feeds arbitrary bytes to the SBOM decoders: they must return
// an SBOM or an error, never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","version":"1"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"name":"a","SPDXID":"SPDXRef-a"}]}`))
	f.Add([]byte("SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n"))
	f.Add([]byte(`<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"></bom>`))
	f.Add([]byte(`{"artifacts":[],"source":{},"schema":{"version":"16.0.0"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(bytes.NewReader(b))
	})
}

// FuzzBareGzip feeds arbitrary bytes, gzip or not, to the test that keeps
// gzip files out of syft's archive search: it must decide, never panic,
// and never call a gzip of a tar bare.
func FuzzBareGzip(f *testing.F) {
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(gzipped([]byte("text\n")))
	f.Add(gzipped([]byte("PK\x03\x04")))
	var zr gzip.Reader
	f.Fuzz(func(t *testing.T, b []byte) {
		bareGzipBytes(b, &zr)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%x", b[:min(len(b), 60)]), Mode: 0o644, Typeflag: tar.TypeReg})
		tw.Close()
		if bareGzipBytes(gzipped(buf.Bytes()), &zr) {
			t.Fatal("a gzip of a tar called bare")
		}
	})
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
