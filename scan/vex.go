package scan

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// VEXStatement is one OpenVEX statement, as far as a scan uses it.
type VEXStatement struct {
	Vulnerability   string   `json:"vulnerability"`
	Aliases         []string `json:"aliases,omitempty"`
	Products        []string `json:"products,omitempty"` // purls; empty means any
	Status          string   `json:"status"`             // not_affected, affected, fixed, under_investigation
	Justification   string   `json:"justification,omitempty"`
	ImpactStatement string   `json:"impact_statement,omitempty"`
	// Source is the document the statement came from.
	Source string `json:"source"`
}

type openVEXDoc struct {
	Context    string `json:"@context"`
	ID         string `json:"@id"`
	Statements []struct {
		Vulnerability json.RawMessage `json:"vulnerability"`
		Products      []struct {
			ID            string `json:"@id"`
			Subcomponents []struct {
				ID string `json:"@id"`
			} `json:"subcomponents"`
		} `json:"products"`
		Status          string `json:"status"`
		Justification   string `json:"justification"`
		ImpactStatement string `json:"impact_statement"`
	} `json:"statements"`
}

const maxVEXSize = 16 << 20

// ReadVEX reads an OpenVEX document.
func ReadVEX(path string) ([]VEXStatement, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseVEX(path, b)
}

// ParseVEX parses an OpenVEX document's statements.
func ParseVEX(source string, b []byte) ([]VEXStatement, error) {
	if len(b) > maxVEXSize {
		return nil, fmt.Errorf("%s: VEX document larger than %d bytes", source, maxVEXSize)
	}
	var doc openVEXDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: not an OpenVEX document: %v", source, err)
	}
	if !strings.HasPrefix(doc.Context, "https://openvex.dev/ns") {
		return nil, fmt.Errorf("%s: not an OpenVEX document (@context %q)", source, doc.Context)
	}
	var out []VEXStatement
	for i, st := range doc.Statements {
		s := VEXStatement{Status: st.Status, Justification: st.Justification, ImpactStatement: st.ImpactStatement, Source: source}
		var name string
		var obj struct {
			Name    string   `json:"name"`
			ID      string   `json:"@id"`
			Aliases []string `json:"aliases"`
		}
		switch {
		case json.Unmarshal(st.Vulnerability, &name) == nil:
			s.Vulnerability = name
		case json.Unmarshal(st.Vulnerability, &obj) == nil:
			s.Vulnerability, s.Aliases = obj.Name, obj.Aliases
			if s.Vulnerability == "" {
				s.Vulnerability = obj.ID
			}
		}
		if s.Vulnerability == "" {
			return nil, fmt.Errorf("%s: statement %d names no vulnerability", source, i)
		}
		switch s.Status {
		case "not_affected", "affected", "fixed", "under_investigation":
		default:
			return nil, fmt.Errorf("%s: statement %d has unknown status %q", source, i, s.Status)
		}
		for _, p := range st.Products {
			if p.ID != "" {
				s.Products = append(s.Products, p.ID)
			}
			for _, sc := range p.Subcomponents {
				if sc.ID != "" {
					s.Products = append(s.Products, sc.ID)
				}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// appliesTo reports whether a statement is about a finding: its
// vulnerability is one of the finding's IDs or aliases, and its products,
// if any, include the package's purl (versions compared when given).
func (s VEXStatement) appliesTo(ids []string, purl string) bool {
	names := append([]string{s.Vulnerability}, s.Aliases...)
	hit := false
	for _, n := range names {
		for _, id := range ids {
			hit = hit || n == id
		}
	}
	if !hit {
		return false
	}
	if len(s.Products) == 0 {
		return true
	}
	base, _, _ := strings.Cut(purl, "?")
	noVersion, _, _ := strings.Cut(base, "@")
	for _, p := range s.Products {
		pb, _, _ := strings.Cut(p, "?")
		if pb == base || pb == noVersion {
			return true
		}
	}
	return false
}
