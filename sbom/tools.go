package sbom

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/format/common/spdxhelpers"
	"github.com/anchore/syft/syft/linux"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/spdx/tools-golang/convert"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// The customs project is the author and supplier of the SBOMs customs
// makes; syft's encoders would name Anchore, which made the library, not
// the SBOM.
const (
	projectName = "the customs project"
	projectURL  = "https://github.com/customs-dev/customs"
)

// Properties (CycloneDX) and annotations (SPDX) that carry what neither
// format has a field for and syft's decoders would otherwise lose: the
// image's platform and the distribution as os-release names it.
const (
	propOS           = "customs:image:os"
	propArchitecture = "customs:image:architecture"
	propVariant      = "customs:image:variant"
	propDistroID     = "customs:distro:id"
	propDistroVerID  = "customs:distro:version-id"
	propDistroVer    = "customs:distro:version"
	propDistroName   = "customs:distro:name"
	propDistroPretty = "customs:distro:pretty-name"
)

// syftVersion is the version of syft built into customs, "" when the build
// does not record it.
var syftVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/anchore/syft" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return ""
})

// extras lists, as name and value, what the properties and annotations
// above carry for s.
func extras(s *syftsbom.SBOM) [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	if m, ok := s.Source.Metadata.(source.ImageMetadata); ok {
		add(propOS, m.OS)
		add(propArchitecture, m.Architecture)
		add(propVariant, m.Variant)
	}
	if d := s.Artifacts.LinuxDistribution; d != nil {
		add(propDistroID, d.ID)
		add(propDistroVerID, d.VersionID)
		add(propDistroVer, d.Version)
		add(propDistroName, d.Name)
		add(propDistroPretty, d.PrettyName)
	}
	return out
}

// restore puts back into s what extras recorded.
func restore(s *syftsbom.SBOM, props map[string]string) {
	if m, ok := s.Source.Metadata.(source.ImageMetadata); ok {
		m.OS = cmp.Or(m.OS, props[propOS])
		m.Architecture = cmp.Or(m.Architecture, props[propArchitecture])
		m.Variant = cmp.Or(m.Variant, props[propVariant])
		s.Source.Metadata = m
	}
	if props[propDistroID] == "" {
		return
	}
	// syft's SPDX decoder guesses the distribution from package URLs
	// ("debian-12"): the recorded one is what os-release said.
	s.Artifacts.LinuxDistribution = &linux.Release{
		ID:         props[propDistroID],
		VersionID:  props[propDistroVerID],
		Version:    props[propDistroVer],
		Name:       props[propDistroName],
		PrettyName: props[propDistroPretty],
		IDLike:     idLike(s.Artifacts.LinuxDistribution),
	}
}

func idLike(r *linux.Release) []string {
	if r == nil {
		return nil
	}
	return r.IDLike
}

// madeByCustoms reports whether the SBOM's descriptor names customs.
func madeByCustoms(s *syftsbom.SBOM) bool {
	return s.Descriptor.Name == "customs"
}

// encodeCycloneDX writes CycloneDX 1.6 JSON as syft's encoder does, but
// names the tools truthfully and keeps the image's platform.
func encodeCycloneDX(w io.Writer, s *syftsbom.SBOM) error {
	bom := cyclonedxhelpers.ToFormatModel(*s)
	if bom.Metadata == nil {
		bom.Metadata = &cyclonedx.Metadata{}
	}
	tools := []cyclonedx.Component{{Type: cyclonedx.ComponentTypeApplication, Name: s.Descriptor.Name, Version: s.Descriptor.Version}}
	if madeByCustoms(s) {
		project := &cyclonedx.OrganizationalEntity{Name: projectName, URL: &[]string{projectURL}}
		tools[0].Supplier = project
		tools[0].Authors = &[]cyclonedx.OrganizationalContact{{Name: projectName}}
		// The SBOM as a whole comes from customs too.
		if bom.Metadata.Manufacturer == nil {
			bom.Metadata.Manufacturer = project
		}
	}
	if s.Descriptor.Name != "syft" {
		tools = append(tools, cyclonedx.Component{
			Type:     cyclonedx.ComponentTypeLibrary,
			Name:     "syft",
			Version:  syftVersion(),
			Supplier: &cyclonedx.OrganizationalEntity{Name: "Anchore, Inc.", URL: &[]string{"https://github.com/anchore/syft"}},
		})
	}
	bom.Metadata.Tools = &cyclonedx.ToolsChoice{Components: &tools}
	if ex := extras(s); len(ex) > 0 {
		props := []cyclonedx.Property{}
		if bom.Metadata.Properties != nil {
			props = *bom.Metadata.Properties
		}
		for _, kv := range ex {
			props = append(props, cyclonedx.Property{Name: kv[0], Value: kv[1]})
		}
		bom.Metadata.Properties = &props
	}
	enc := cyclonedx.NewBOMEncoder(w, cyclonedx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	return enc.EncodeVersion(bom, cyclonedx.SpecVersion1_6)
}

// encodeSPDX writes SPDX 2.3 JSON as syft's encoder does, with customs and
// syft as the creators and the platform and distribution as annotations.
func encodeSPDX(w io.Writer, s *syftsbom.SBOM) error {
	doc := spdxhelpers.ToFormatModel(*s)
	if doc == nil {
		return fmt.Errorf("converting the SBOM to SPDX")
	}
	tool := s.Descriptor.Name + "-" + s.Descriptor.Version
	if madeByCustoms(s) {
		creators := []common.Creator{{CreatorType: "Organization", Creator: projectName}, {CreatorType: "Tool", Creator: tool}}
		if v := syftVersion(); v != "" {
			creators = append(creators, common.Creator{CreatorType: "Tool", Creator: "syft-" + v})
		}
		doc.CreationInfo.Creators = creators
	}
	for _, kv := range extras(s) {
		doc.Annotations = append(doc.Annotations, &spdx.Annotation{
			Annotator:                common.Annotator{AnnotatorType: "Tool", Annotator: tool},
			AnnotationDate:           doc.CreationInfo.Created,
			AnnotationType:           "OTHER",
			AnnotationSPDXIdentifier: common.MakeDocElementID("", string(doc.SPDXIdentifier)),
			AnnotationComment:        kv[0] + "=" + kv[1],
		})
	}
	var out v2_3.Document
	if err := convert.Document(doc, &out); err != nil {
		return fmt.Errorf("converting the SBOM to SPDX 2.3: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

// cdxMetadata is what Decode reads of a CycloneDX JSON document besides
// what syft's decoder does.
type cdxMetadata struct {
	Metadata struct {
		Component struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"component"`
		Properties []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"properties"`
	} `json:"metadata"`
}

// spdxMetadata is what Decode reads of an SPDX JSON document besides what
// syft's decoder does.
type spdxMetadata struct {
	CreationInfo struct {
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Annotations []struct {
		Comment string `json:"comment"`
	} `json:"annotations"`
}

// completeCycloneDX fills in what syft's CycloneDX decoder leaves out:
// the subject's name and version, and the platform and distribution
// customs recorded.
func completeCycloneDX(s *syftsbom.SBOM, b []byte) {
	var m cdxMetadata
	if json.Unmarshal(b, &m) != nil {
		return
	}
	c := m.Metadata.Component
	s.Source.Name = cmp.Or(s.Source.Name, c.Name)
	s.Source.Version = cmp.Or(s.Source.Version, c.Version)
	props := map[string]string{}
	for _, p := range m.Metadata.Properties {
		props[p.Name] = p.Value
	}
	restore(s, props)
}

// completeSPDX fills in what syft's SPDX decoder leaves out: the tool that
// made the document, and the platform and distribution customs recorded.
func completeSPDX(s *syftsbom.SBOM, b []byte) {
	var m spdxMetadata
	if json.Unmarshal(b, &m) != nil {
		return
	}
	if s.Descriptor.Name == "" {
		for _, c := range m.CreationInfo.Creators {
			if tool, ok := strings.CutPrefix(c, "Tool:"); ok {
				s.Descriptor.Name, s.Descriptor.Version = splitTool(strings.TrimSpace(tool))
				break
			}
		}
	}
	props := map[string]string{}
	for _, a := range m.Annotations {
		if k, v, ok := strings.Cut(a.Comment, "="); ok && strings.HasPrefix(k, "customs:") {
			props[k] = v
		}
	}
	restore(s, props)
}

// splitTool splits an SPDX tool creator, "name-version" by convention, at
// the first dash that starts a version ("syft-1.2.3", "customs-(devel)"):
// names have dashes too ("cyclonedx-gomod-v1.4.0"), and so do versions
// ("0.50.0-rc1").
func splitTool(t string) (name, version string) {
	for i := 1; i+1 < len(t); i++ {
		if t[i] == '-' && strings.ContainsRune("0123456789v(", rune(t[i+1])) {
			return t[:i], t[i+1:]
		}
	}
	return t, ""
}
