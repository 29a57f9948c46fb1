package report

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"

	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln/reach"
)

type vexDoc struct {
	Context    string         `json:"@context"`
	ID         string         `json:"@id"`
	Author     string         `json:"author"`
	Timestamp  string         `json:"timestamp"`
	Version    int            `json:"version"`
	Tooling    string         `json:"tooling"`
	Statements []vexStatement `json:"statements"`
}

type vexStatement struct {
	Vulnerability   vexVuln      `json:"vulnerability"`
	Products        []vexProduct `json:"products"`
	Status          string       `json:"status"`
	Justification   string       `json:"justification,omitempty"`
	ImpactStatement string       `json:"impact_statement,omitempty"`
	ActionStatement string       `json:"action_statement,omitempty"`
}

type vexVuln struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
}

type vexProduct struct {
	ID            string       `json:"@id"`
	Subcomponents []vexProduct `json:"subcomponents,omitempty"`
}

// writeOpenVEX states, for each finding, whether the target is affected:
// what a downstream consumer can import to know what was assessed.
func writeOpenVEX(w io.Writer, r *result.Result) error {
	product := r.Target.Reference
	if product == "" {
		product = r.Target.Input
	}
	doc := vexDoc{
		Context:   "https://openvex.dev/ns/v0.2.0",
		ID:        fmt.Sprintf("https://openvex.dev/docs/customs/%x", sha256.Sum256([]byte(product+r.Time.String()))),
		Author:    "customs",
		Timestamp: r.Time.Format("2006-01-02T15:04:05Z07:00"),
		Version:   1,
		Tooling:   "customs " + r.Tool.Version,
	}
	doc.Statements = []vexStatement{}
	for _, f := range r.Findings {
		st := vexStatement{
			Vulnerability: vexVuln{Name: f.ID, Aliases: append(append([]string{}, f.IDs[1:]...), f.Aliases...)},
			Products:      []vexProduct{{ID: product, Subcomponents: []vexProduct{{ID: f.Package.PURL}}}},
			Status:        "affected",
		}
		switch f.Status {
		case result.NotAffected, result.Fixed:
			st.Status, st.Justification, st.ImpactStatement = string(f.Status), f.VEX.Justification, f.VEX.ImpactStatement
			if st.Status == "not_affected" && st.Justification == "" && st.ImpactStatement == "" {
				st.ImpactStatement = "declared not affected in " + f.VEX.Source
			}
		case result.Ignored:
			st.ActionStatement = "accepted: " + f.Ignore.Reason
		case result.Affected:
			if l := reach.Level(f.Reachability); f.Reachability != "" && !l.Reached() {
				// The program holds no vulnerable function: what
				// govulncheck calls imported or required.
				st.Status, st.Justification = "not_affected", "vulnerable_code_not_in_execute_path"
				st.ImpactStatement = notReached[l]
				break
			}
			st.ActionStatement = "upgrade " + f.Package.Name + " to " + fixed(f)
		default:
			st.ActionStatement = "upgrade " + f.Package.Name + " to " + fixed(f)
		}
		doc.Statements = append(doc.Statements, st)
	}
	doc.Statements = append(doc.Statements, postureVEX(r, product)...)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// notReached says why a finding the program does not reach does not
// affect it, by level.
var notReached = map[reach.Level]string{
	reach.Imported:      "the executable links the vulnerable package but none of its vulnerable functions",
	reach.Required:      "the executable holds the module but not the vulnerable package",
	reach.OtherPlatform: "the vulnerable code is for other platforms than the executable's",
}
