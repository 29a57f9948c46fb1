package result

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Ignore is one entry of the ignore file.
type Ignore struct {
	ID      string `yaml:"id" json:"id"`
	Package string `yaml:"package,omitempty" json:"package,omitempty"`
	// Path narrows a posture ignore to a path (a path.Match pattern:
	// "/usr/bin/*", or "config:User").
	Path   string `yaml:"path,omitempty" json:"path,omitempty"`
	Reason string `yaml:"reason" json:"reason"`
	Until  Date   `yaml:"until,omitempty" json:"until,omitempty"`
	// Source is the file and line the entry came from.
	Source string `yaml:"-" json:"source,omitempty"`
}

// Date is a day (YYYY-MM-DD); an entry is in force until the end of it.
type Date struct{ time.Time }

// UnmarshalYAML reads YYYY-MM-DD or an RFC 3339 time.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, n.Value); err == nil {
			if layout == "2006-01-02" {
				t = t.Add(24*time.Hour - time.Nanosecond)
			}
			d.Time = t
			return nil
		}
	}
	return fmt.Errorf("line %d: until %q is not a date (write YYYY-MM-DD)", n.Line, n.Value)
}

// MarshalText writes the day.
func (d Date) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte(""), nil
	}
	return []byte(d.Format("2006-01-02")), nil
}

// Config is the ignore file (.customs.yaml).

// VEXStatement is one OpenVEX statement, as far as a scan uses it.
type VEXStatement struct {
	Vulnerability   string       `json:"vulnerability"`
	Aliases         []string     `json:"aliases,omitempty"`
	Products        []VEXProduct `json:"products,omitempty"` // empty means any
	Status          string       `json:"status"`             // not_affected, affected, fixed, under_investigation
	Justification   string       `json:"justification,omitempty"`
	ImpactStatement string       `json:"impact_statement,omitempty"`
	// Timestamp is when the statement was made (its own, else the
	// document's); of the statements about a finding, the latest wins.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Source is the document the statement came from.
	Source string `json:"source"`
}

// VEXProduct is a product a statement is about: a package (its purl), or
// the scanned artifact (an image purl, reference or digest), optionally
// narrowed to subcomponents (the packages inside it).
type VEXProduct struct {
	ID            string   `json:"id"`
	Subcomponents []string `json:"subcomponents,omitempty"`
}
