package scan

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/customs-dev/customs/result"
)

type openVEXDoc struct {
	Context    string     `json:"@context"`
	ID         string     `json:"@id"`
	Timestamp  *time.Time `json:"timestamp"`
	Statements []struct {
		Timestamp     *time.Time      `json:"timestamp"`
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
func ReadVEX(path string) ([]result.VEXStatement, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseVEX(path, b)
}

// ParseVEX parses an OpenVEX document's statements.
func ParseVEX(source string, b []byte) ([]result.VEXStatement, error) {
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
	var out []result.VEXStatement
	for i, st := range doc.Statements {
		s := result.VEXStatement{Status: st.Status, Justification: st.Justification, ImpactStatement: st.ImpactStatement, Source: source}
		switch {
		case st.Timestamp != nil:
			s.Timestamp = *st.Timestamp
		case doc.Timestamp != nil:
			s.Timestamp = *doc.Timestamp
		}
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
			if p.ID == "" {
				return nil, fmt.Errorf("%s: statement %d has a product without @id", source, i)
			}
			vp := result.VEXProduct{ID: p.ID}
			for _, sc := range p.Subcomponents {
				if sc.ID != "" {
					vp.Subcomponents = append(vp.Subcomponents, sc.ID)
				}
			}
			s.Products = append(s.Products, vp)
		}
		out = append(out, s)
	}
	return out, nil
}

// appliesTo reports whether a statement is about a finding: its
// vulnerability is one of the finding's IDs or aliases, and one of its
// products is either the package itself, or the scanned target with no
// subcomponents or with the package among them. A statement without
// products is about every package.
func appliesTo(s *result.VEXStatement, ids []string, purl string, t result.Target) bool {
	names := append([]string{s.Vulnerability}, s.Aliases...)
	hit := false
	for _, n := range names {
		for _, id := range ids {
			hit = hit || strings.EqualFold(n, id)
		}
	}
	if !hit {
		return false
	}
	if len(s.Products) == 0 {
		return true
	}
	for _, p := range s.Products {
		switch {
		case samePackage(p.ID, purl) && len(p.Subcomponents) == 0:
			return true
		case isTarget(p.ID, t):
			if len(p.Subcomponents) == 0 {
				return true
			}
			for _, sc := range p.Subcomponents {
				if samePackage(sc, purl) {
					return true
				}
			}
		}
	}
	return false
}

// samePackage compares purls, ignoring qualifiers, and the version when the
// statement gives none.
func samePackage(stated, purl string) bool {
	if purl == "" {
		return false
	}
	base, _, _ := strings.Cut(purl, "?")
	noVersion, _, _ := strings.Cut(base, "@")
	sb, _, _ := strings.Cut(stated, "?")
	return sb == base || sb == noVersion
}

// isTarget reports whether a product ID names the scanned target: its
// digest (bare, in a reference, or in a pkg:oci purl), its reference, or the
// target as written.
func isTarget(id string, t result.Target) bool {
	if id == "" {
		return false
	}
	if hex, ok := strings.CutPrefix(t.Digest, "sha256:"); ok && len(hex) == 64 {
		if strings.Contains(id, "sha256:"+hex) || strings.Contains(id, "sha256%3A"+hex) || strings.Contains(id, "sha256%3a"+hex) {
			return true
		}
	}
	return id == t.Reference && t.Reference != "" || id == t.Input
}

// vexFor picks the statement that decides a finding: of those about it,
// the one with the latest timestamp (the later one on a tie).
func vexFor(stmts []result.VEXStatement, ids []string, purl string, t result.Target) *result.VEXStatement {
	var best *result.VEXStatement
	for i := range stmts {
		st := &stmts[i]
		if !appliesTo(st, ids, purl, t) {
			continue
		}
		if best == nil || !st.Timestamp.Before(best.Timestamp) {
			best = st
		}
	}
	return best
}
