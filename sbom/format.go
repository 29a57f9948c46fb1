package sbom

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/anchore/syft/syft/format"
	"github.com/anchore/syft/syft/format/cyclonedxjson"
	"github.com/anchore/syft/syft/format/spdxjson"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
)

// Formats lists the output formats, the default first.
var Formats = []string{"cyclonedx-json", "spdx-json", "syft-json", "table"}

// ErrUnknownFormat is returned for a format name that is not in Formats.
var ErrUnknownFormat = errors.New("unknown SBOM format")

// Encode writes s in the named format: cyclonedx-json (CycloneDX 1.6),
// spdx-json (SPDX 2.3), syft-json or table.
func Encode(w io.Writer, s *syftsbom.SBOM, name string) error {
	var enc syftsbom.FormatEncoder
	var err error
	switch name {
	case "cyclonedx-json", "cyclonedx", "cdx-json":
		return encodeCycloneDX(w, s)
	case "spdx-json", "spdx":
		return encodeSPDX(w, s)
	case "syft-json":
		enc, err = syftjson.NewFormatEncoderWithConfig(syftjson.EncoderConfig{Pretty: true})
	case "table":
		return writeTable(w, s)
	default:
		return fmt.Errorf("%w %q: choose one of %s", ErrUnknownFormat, name, strings.Join(Formats, ", "))
	}
	if err != nil {
		return err
	}
	return enc.Encode(w, *s)
}

// Decode reads an SBOM in any format syft understands: CycloneDX (JSON or
// XML), SPDX (JSON or tag-value) or syft JSON.
func Decode(r io.Reader) (*syftsbom.SBOM, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSBOMSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSBOMSize {
		return nil, fmt.Errorf("SBOM is larger than %d bytes", maxSBOMSize)
	}
	s, id, _, err := format.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decoding SBOM: %w", err)
	}
	if s == nil || id == "" {
		return nil, errors.New("not a CycloneDX, SPDX or syft JSON SBOM")
	}
	switch id {
	case cyclonedxjson.ID:
		completeCycloneDX(s, b)
	case spdxjson.ID:
		completeSPDX(s, b)
	}
	return s, nil
}

const maxSBOMSize = 512 << 20

// writeTable prints a human summary: the subject, then one package a line
// with the layer it came from.
func writeTable(w io.Writer, s *syftsbom.SBOM) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	d := s.Source
	fmt.Fprintf(tw, "%s %s\n", d.Name, d.Version)
	if m, ok := d.Metadata.(source.ImageMetadata); ok {
		fmt.Fprintf(tw, "image digest: %s  platform: %s/%s\n", m.ManifestDigest, m.OS, m.Architecture)
	}
	if s.Artifacts.LinuxDistribution != nil && s.Artifacts.LinuxDistribution.PrettyName != "" {
		fmt.Fprintf(tw, "distribution: %s\n", s.Artifacts.LinuxDistribution.PrettyName)
	}
	pkgs := s.Artifacts.Packages.Sorted()
	sort.SliceStable(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Version < pkgs[j].Version
	})
	fmt.Fprintf(tw, "%d packages\n\n", len(pkgs))
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tLAYER")
	for _, p := range pkgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Type, layerOf(p))
	}
	return tw.Flush()
}

func layerOf(p pkg.Package) string {
	for _, l := range p.Locations.ToSlice() {
		if id := l.FileSystemID; id != "" {
			if len(id) > 19 {
				id = id[:19]
			}
			return id
		}
	}
	return ""
}
