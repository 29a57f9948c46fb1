package vuln

import (
	"regexp"
	"strings"

	"github.com/anchore/packageurl-go"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
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

// baseEcosystem is the ecosystem without its release suffix ("Debian:12" →
// "Debian"), which names the database's directory.
func baseEcosystem(e string) string {
	b, _, _ := strings.Cut(e, ":")
	return b
}

// Packages lists the packages of an SBOM that OSV has an ecosystem for, as
// osv-scanner would query them. Go main modules built without a version
// ("(devel)") are left out.
func Packages(s *syftsbom.SBOM) []Package {
	var out []Package
	for _, p := range s.Artifacts.Packages.Sorted() {
		vp, ok := fromSyft(p)
		if !ok {
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
	return out
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

var alpineRelease = regexp.MustCompile(`^alpine-(\d+\.\d+)`)

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
	case packageurl.TypeDebian:
		distro := q["distro"]
		switch {
		case strings.HasPrefix(distro, "debian-"):
			vp.Ecosystem = "Debian:" + strings.SplitN(strings.TrimPrefix(distro, "debian-"), ".", 2)[0]
		case strings.HasPrefix(distro, "ubuntu-"):
			vp.Ecosystem = "Ubuntu:" + strings.TrimPrefix(distro, "ubuntu-")
		default:
			return Package{}, false
		}
		vp.Name = u.Name // Debian advisories name source packages
		if src := q["upstream"]; src != "" {
			vp.Name, _, _ = strings.Cut(src, "@")
		}
		if e := q["epoch"]; e != "" && !strings.Contains(vp.Version, ":") {
			vp.Version = e + ":" + vp.Version
		}
	case packageurl.TypeApk:
		m := alpineRelease.FindStringSubmatch(q["distro"])
		if m == nil {
			return Package{}, false
		}
		vp.Ecosystem = "Alpine:v" + m[1]
		vp.Name = u.Name
		if src := q["upstream"]; src != "" {
			vp.Name, _, _ = strings.Cut(src, "@")
		}
	default:
		return Package{}, false
	}
	return vp, true
}

// indexName is how a package is looked up in the index.
func indexName(p Package) string {
	return baseEcosystem(p.Ecosystem) + "/" + p.Name
}
