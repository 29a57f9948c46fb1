package sbom

import (
	"context"
	"log/slog"
	"sync"
	_ "unsafe" // go:linkname

	"github.com/anchore/syft/syft/cataloging"
	"github.com/google/licensecheck"
)

// syft builds the license scanner of google/licensecheck for every
// CreateSBOM that has none in its context: compiling its DFA costs about a
// second of CPU, more than everything else a scan of a Go binary does, and
// most images never ask it anything (Debian's copyright files and Go's
// build information are read as text, not classified).
// syft offers no way to skip or defer it, and its Scanner interface names a
// type of an internal package, so it cannot be implemented here. So customs
// hands syft a scanner of its own, built through the constructor syft's
// own tests use: for matching, one that finds nothing (an SBOM made for
// matching records no licenses); for a full SBOM, one with syft's
// configuration whose licensecheck scanner is built the first time a file
// is classified, or ahead of it for large images (withLicenses,
// warmClassifier). The findings are the same as syft's own
// scanner's: the same licensecheck scanner of the same built-in licenses
// at the same coverage threshold.
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

// classifier is google/licensecheck's scanner of the built-in licenses,
// read once, on first use or ahead of it (warm), from the compiled form
// that customs' copy of licensecheck stores (third_party/licensecheck), a
// small fraction of the CPU and garbage that compiling it takes
// (bench/README.md). TestStoredClassifier checks that the two are the same.
var classifier = sync.OnceValues(licensecheck.NewBuiltinScanner)

// warmClassifier starts reading the classifier in the background: for
// images large enough that it is ready before their layers are read, as
// customs did when it compiled it (a Debian image classifies some
// copyright files; a scratch image with a Go binary classifies nothing).
func warmClassifier() { go classifier() }

// withLicenses returns ctx with a syft license scanner configured as cfg
// says, whose licensecheck scanner is the classifier.
func withLicenses(ctx context.Context, cfg cataloging.LicenseConfig, log *slog.Logger) (context.Context, error) {
	s, err := syftNewScanner(&syftScannerConfig{
		CoverageThreshold: cfg.Coverage,
		Scanner: func(text []byte) licensecheck.Coverage {
			sc, err := classifier()
			if err != nil {
				// The built-in licenses always compile; if they did
				// not, syft records the file's digest instead, as it
				// does for text it cannot classify.
				log.Warn("license classifier unavailable", "err", err)
				return licensecheck.Coverage{}
			}
			return sc.Scan(text)
		},
	})
	if err != nil {
		return nil, err
	}
	return syftSetContextLicenseScanner(ctx, s), nil
}
