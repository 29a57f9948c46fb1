package sbom

import "testing"

func TestSplitTool(t *testing.T) {
	for _, tc := range []struct{ in, name, version string }{
		{"customs-(devel)", "customs", "(devel)"},
		{"customs-v1.2.0", "customs", "v1.2.0"},
		{"syft-1.57.0", "syft", "1.57.0"},
		{"trivy-0.50.0-rc1", "trivy", "0.50.0-rc1"},
		{"cyclonedx-gomod-v1.4.0", "cyclonedx-gomod", "v1.4.0"},
		{"sbom-tool", "sbom-tool", ""},
	} {
		if name, version := splitTool(tc.in); name != tc.name || version != tc.version {
			t.Errorf("splitTool(%q) = %q, %q, want %q, %q", tc.in, name, version, tc.name, tc.version)
		}
	}
}
