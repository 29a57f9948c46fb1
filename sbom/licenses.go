package sbom

import (
	"context"
	_ "unsafe" // go:linkname

	"github.com/google/licensecheck"
)

// syft builds the license scanner of google/licensecheck for every
// CreateSBOM that has none in its context: compiling its DFA costs more
// CPU than everything else a scan of a Go binary does.
// syft offers no way to skip it, and its Scanner interface names a type of
// an internal package, so it cannot be implemented here. An SBOM made for
// matching records no licenses, so matching hands syft a scanner that
// finds none, built through the constructor syft's own tests use.
//
// The two functions below are bound by name to syft v1.57.0's
// internal/licenses; TestLicenseLinknames checks their signatures against
// the syft source in the module cache, so a syft upgrade that changes
// them fails a test instead of corrupting memory.

// syftScannerConfig has the layout of licenses.ScannerConfig.
type syftScannerConfig struct {
	CoverageThreshold float64
	Scanner           func([]byte) licensecheck.Coverage
}

// syftScanner stands for licenses.Scanner: a non-empty interface, so that
// it has the same two-word layout (itab, data). Values only travel from
// one bound function to the other; its method is never called.
type syftScanner interface {
	FindEvidence()
}

//go:linkname syftNewScanner github.com/anchore/syft/internal/licenses.NewScanner
func syftNewScanner(c *syftScannerConfig) (syftScanner, error)

//go:linkname syftSetContextLicenseScanner github.com/anchore/syft/internal/licenses.SetContextLicenseScanner
func syftSetContextLicenseScanner(ctx context.Context, s syftScanner) context.Context

// withoutLicenses returns ctx with a syft license scanner that finds no
// licenses and costs nothing to build.
func withoutLicenses(ctx context.Context) (context.Context, error) {
	s, err := syftNewScanner(&syftScannerConfig{
		CoverageThreshold: 100,
		Scanner:           func([]byte) licensecheck.Coverage { return licensecheck.Coverage{} },
	})
	if err != nil {
		return nil, err
	}
	return syftSetContextLicenseScanner(ctx, s), nil
}
