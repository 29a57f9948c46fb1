package vuln

import (
	"strings"

	"github.com/anchore/packageurl-go"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	scalibrpurl "github.com/google/osv-scalibr/purl"
	scalibreco "github.com/google/osv-scalibr/purl/ecosystem"

	"github.com/customs-dev/customs/vuln/osvdb"
)

// Package is an SBOM package as matching sees it: its OSV ecosystem, name
// and version.
type Package struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Ecosystem string `json:"ecosystem"` // as OSV writes it: "Go", "PyPI", "Debian:12"
	PURL      string `json:"purl,omitempty"`
	// Locations are where the package was found: paths, with the image
	// layer when there is one ("sha256:…:/usr/bin/app").
	Locations []string `json:"locations,omitempty"`
}

// Unscanned is an SBOM package that matching cannot look up.
type Unscanned struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type"` // syft's package type: "rpm", "binary", …
	PURL    string `json:"purl,omitempty"`
	// Gap is set for distribution packages (deb, rpm, apk, …): OSV covers
	// such packages in general, so leaving one out leaves a hole in the
	// scan that a gate must not pass silently.
	Gap bool `json:"gap,omitempty"`
}

// gapTypes are the package types whose absence from matching is a gap.
var gapTypes = map[pkg.Type]bool{
	pkg.DebPkg: true, pkg.RpmPkg: true, pkg.ApkPkg: true, pkg.AlpmPkg: true,
	pkg.PortagePkg: true, pkg.NixPkg: true,
}

// Packages splits the packages of an SBOM into those OSV has an ecosystem
// for, as osv-scanner would query them, and the rest. Go main modules built
// without a version ("(devel)") are neither: they have nothing to match.
func Packages(s *syftsbom.SBOM) ([]Package, []Unscanned) {
	var out []Package
	var skipped []Unscanned
	for _, p := range s.Artifacts.Packages.Sorted() {
		vp, ok := fromSyft(p)
		if !ok {
			if p.Type == pkg.GoModulePkg && (p.Version == "(devel)" || p.Version == "") {
				continue
			}
			skipped = append(skipped, Unscanned{Name: p.Name, Version: p.Version, Type: string(p.Type), PURL: p.PURL, Gap: gapTypes[p.Type]})
			continue
		}
		for _, l := range p.Locations.ToSlice() {
			loc := l.RealPath
			if l.FileSystemID != "" {
				loc = l.FileSystemID + ":" + loc
			}
			vp.Locations = append(vp.Locations, loc)
		}
		out = append(out, vp)
	}
	return out, skipped
}

func fromSyft(p pkg.Package) (Package, bool) {
	if p.PURL == "" {
		return Package{}, false
	}
	u, err := packageurl.FromString(p.PURL)
	if err != nil {
		return Package{}, false
	}
	return fromPURL(u, p.PURL)
}

func fromPURL(u packageurl.PackageURL, raw string) (Package, bool) {
	q := u.Qualifiers.Map()
	name := u.Name
	if u.Namespace != "" {
		name = u.Namespace + "/" + u.Name
	}
	vp := Package{Name: name, Version: u.Version, PURL: raw}
	switch u.Type {
	case packageurl.TypeGolang:
		vp.Ecosystem = "Go"
		if vp.Version == "(devel)" || vp.Version == "" {
			return Package{}, false
		}
		if name == "stdlib" {
			vp.Version = strings.TrimPrefix(vp.Version, "go")
		}
		vp.Version = strings.TrimPrefix(vp.Version, "v")
	case packageurl.TypePyPi:
		vp.Ecosystem = "PyPI"
	case packageurl.TypeNPM:
		vp.Ecosystem = "npm"
	case packageurl.TypeMaven:
		vp.Ecosystem, vp.Name = "Maven", u.Namespace+":"+u.Name
	case packageurl.TypeCargo:
		vp.Ecosystem = "crates.io"
	case packageurl.TypeGem:
		vp.Ecosystem = "RubyGems"
	case packageurl.TypeNuget:
		vp.Ecosystem = "NuGet"
	case packageurl.TypeComposer:
		vp.Ecosystem = "Packagist"
	case packageurl.TypeHex:
		vp.Ecosystem = "Hex"
	case "pub":
		vp.Ecosystem = "Pub"
	case packageurl.TypeDebian, packageurl.TypeApk:
		// osv-scalibr's mapping, as osv-scanner applies it to SBOMs: it
		// knows release code names and Ubuntu's ":LTS" suffixes.
		sp, err := scalibrpurl.FromString(raw)
		if err != nil {
			return Package{}, false
		}
		eco := scalibreco.FromPURL(&sp)
		if eco.Ecosystem == "" || eco.Suffix == "" && u.Type == packageurl.TypeDebian {
			return Package{}, false
		}
		if eco.Ecosystem == "Debian" {
			// Debian's advisories name major releases ("debian-12.5" is 12).
			eco.Suffix, _, _ = strings.Cut(eco.Suffix, ".")
		}
		vp.Ecosystem = eco.String()
		vp.Name = u.Name // distribution advisories name source packages
		if src := q["upstream"]; src != "" {
			vp.Name, _, _ = strings.Cut(src, "@")
		}
		if e := q["epoch"]; e != "" && u.Type == packageurl.TypeDebian && !strings.Contains(vp.Version, ":") {
			vp.Version = e + ":" + vp.Version
		}
	default:
		return Package{}, false
	}
	return vp, true
}

// indexName is how a package is looked up in the index.
func indexName(p Package) string {
	return BaseEcosystem(p.Ecosystem) + "/" + p.Name
}

// BaseEcosystem is an OSV ecosystem without its release ("Debian:12" →
// "Debian").
func BaseEcosystem(e string) string { return osvdb.BaseEcosystem(e) }
