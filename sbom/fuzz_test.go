package sbom

import (
	"bytes"
	"testing"
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
