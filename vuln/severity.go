package vuln

import (
	"encoding/json"
	"fmt"
	"strings"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severity is a finding's severity, ordered.
type Severity int

// The severities, from none known to critical.
const (
	Unknown Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string { return severityNames[s] }

// Title is the name in title case ("Critical", "Unknown"), as GitLab's
// and Harbor's reports spell severities.
func (s Severity) Title() string {
	n := s.String()
	if n == "" {
		return "Unknown"
	}
	return n[:1] + strings.ToLower(n[1:])
}

// MarshalText writes the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name, in any case.
func (s *Severity) UnmarshalText(b []byte) error {
	p, err := ParseSeverity(string(b))
	*s = p
	return err
}

// ParseSeverity reads low, medium, high, critical or unknown.
func ParseSeverity(s string) (Severity, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "MODERATE" {
		return Medium, nil
	}
	for i, n := range severityNames {
		if n == u {
			return Severity(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown severity %q: use low, medium, high or critical", s)
}

// fromScore maps a CVSS base score to a qualitative severity.
func fromScore(score float64) Severity {
	switch {
	case score >= 9:
		return Critical
	case score >= 7:
		return High
	case score >= 4:
		return Medium
	case score > 0:
		return Low
	}
	return Unknown
}

// severityOf takes the highest severity among records: CVSS vectors first
// (their base scores), then database_specific severities (GitHub's
// "severity", as in GHSA records). Records with neither are UNKNOWN.
func severityOf(records []*osvpb.Vulnerability) (Severity, float64, []string) {
	best, bestScore := Unknown, 0.0
	var vectors []string
	for _, v := range records {
		for _, s := range v.GetSeverity() {
			score, ok := cvssScore(s.GetScore())
			if !ok {
				continue
			}
			vectors = append(vectors, s.GetScore())
			if score > bestScore {
				bestScore = score
			}
			if sev := fromScore(score); sev > best {
				best = sev
			}
		}
	}
	if best == Unknown {
		for _, v := range records {
			if sev := databaseSeverity(v); sev > best {
				best = sev
			}
		}
	}
	return best, bestScore, vectors
}

func cvssScore(vector string) (float64, bool) {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.Score(), true
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	}
	return 0, false
}

func databaseSeverity(v *osvpb.Vulnerability) Severity {
	ds := v.GetDatabaseSpecific()
	if ds == nil {
		return Unknown
	}
	b, err := json.Marshal(ds.AsMap())
	if err != nil {
		return Unknown
	}
	var d struct {
		Severity string `json:"severity"`
	}
	if json.Unmarshal(b, &d) != nil {
		return Unknown
	}
	s, _ := ParseSeverity(d.Severity)
	return s
}
