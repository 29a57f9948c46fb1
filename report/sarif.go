package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// SARIF 2.1.0, as GitHub code scanning reads it: one rule per
// vulnerability, one result per affected package, located at the file the
// package was found in (for images, the path inside the image layer).
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Results     []sarifResult     `json:"results"`
	Invocations []sarifInvocation `json:"invocations,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	ShortDescription sarifText      `json:"shortDescription"`
	FullDescription  sarifText      `json:"fullDescription"`
	Help             sarifHelp      `json:"help"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
	CodeFlows    []sarifCodeFlow    `json:"codeFlows,omitempty"`
	Properties   map[string]any     `json:"properties,omitempty"`
}

// sarifCodeFlow is a call path: how the program reaches a vulnerable
// function.
type sarifCodeFlow struct {
	Message     sarifText         `json:"message"`
	ThreadFlows []sarifThreadFlow `json:"threadFlows"`
}

type sarifThreadFlow struct {
	Locations []sarifFlowStep `json:"locations"`
}

type sarifFlowStep struct {
	Location sarifFlowLocation `json:"location"`
}

type sarifFlowLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	Message          sarifText      `json:"message"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status"`
	Justification string `json:"justification,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

// level follows the gate, which is what a code scanning check fails on:
// a finding that fails it is an error whatever its severity (an UNKNOWN
// one fails unless the policy lets unknown severities pass); the others
// are warnings or, below MEDIUM or without a severity, notes; so is a
// finding the program does not reach, whatever its severity.
func level(fails bool, s vuln.Severity, reachability string) string {
	switch {
	case fails:
		return "error"
	case reachability != "" && !reach.Level(reachability).Reached():
		return "note"
	case s == vuln.Critical, s == vuln.High, s == vuln.Medium:
		return "warning"
	}
	return "note"
}

func writeSARIF(w io.Writer, r *result.Result) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "customs", Version: r.Tool.Version, InformationURI: "https://github.com/customs-dev/customs", Rules: []sarifRule{}}}, Results: []sarifResult{}}
	ruleIndex := map[string]int{}
	for _, f := range r.Findings {
		idx, ok := ruleIndex[f.ID]
		if !ok {
			idx = len(run.Tool.Driver.Rules)
			ruleIndex[f.ID] = idx
			summary := f.Summary
			if summary == "" {
				summary = f.ID
			}
			help := fmt.Sprintf("%s: %s\n\nAliases: %s\nFixed in: %s\nDetails: https://osv.dev/vulnerability/%s", ids(f), summary, strings.Join(f.Aliases, ", "), fixed(f), f.ID)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
				ID:               f.ID,
				ShortDescription: sarifText{Text: fmt.Sprintf("%s: %s", f.ID, summary)},
				FullDescription:  sarifText{Text: summary},
				Help: sarifHelp{Text: help, Markdown: fmt.Sprintf("**%s** %s\n\n| Package | Fixed in |\n| --- | --- |\n| %s | %s |\n\n[%s on osv.dev](https://osv.dev/vulnerability/%s)",
					ids(f), md(summary), md(f.Package.Name), md(fixed(f)), f.ID, f.ID)},
				HelpURI:    "https://osv.dev/vulnerability/" + f.ID,
				Properties: map[string]any{"security-severity": fmt.Sprintf("%.1f", securityScore(f)), "tags": []string{"security", "vulnerability"}},
			})
		}
		res := sarifResult{
			RuleID:     f.ID,
			RuleIndex:  idx,
			Level:      level(f.Fails, f.Severity, f.Reachability),
			Message:    sarifText{Text: fmt.Sprintf("%s %s is affected by %s (%s); fixed in %s", f.Package.Name, f.Package.Version, ids(f), f.Severity, fixed(f))},
			Locations:  []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: locationURI(f)}}}},
			Properties: map[string]any{"package": f.Package.Name, "version": f.Package.Version, "purl": f.Package.PURL},
		}
		if f.Reachability != "" {
			res.Properties["reachability"] = f.Reachability
		}
		if len(f.ReachabilityPath) > 0 {
			res.CodeFlows = []sarifCodeFlow{codeFlow(f.ReachabilityPath)}
		}
		switch {
		case f.Ignore != nil:
			res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: f.Ignore.Reason}}
		case f.VEX != nil:
			res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: "VEX " + f.VEX.Status + ": " + f.VEX.Justification}}
		}
		run.Results = append(run.Results, res)
	}
	withCapabilities(&run, r)
	withPosture(&run, r)
	run.Invocations = sarifInvocations(r)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

// codeFlow is a call path as SARIF shows it: a step per call, those in
// the analysed module's own files at their line (the others' files are in
// the module cache, not in the repository).
func codeFlow(path []capabilities.Frame) sarifCodeFlow {
	var steps []sarifFlowStep
	for i, fr := range path {
		loc := sarifFlowLocation{Message: sarifText{Text: fr.Function}}
		if i+1 < len(path) {
			loc.Message.Text += " calls " + path[i+1].Function
		}
		file, line, ok := strings.Cut(fr.Pos, ":")
		if n, err := strconv.Atoi(line); ok && err == nil && fr.Module == path[0].Module {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: file}, Region: &sarifRegion{StartLine: n}}
		}
		steps = append(steps, sarifFlowStep{Location: loc})
	}
	return sarifCodeFlow{Message: sarifText{Text: "call path to the vulnerable function"}, ThreadFlows: []sarifThreadFlow{{Locations: steps}}}
}

// securityScore is what GitHub sorts by: the CVSS score, or a score
// standing for the severity.
func securityScore(f result.Finding) float64 {
	if f.Score > 0 {
		return f.Score
	}
	return severityScore(f.Severity)
}

// severityScore is the score standing for a severity.
func severityScore(s vuln.Severity) float64 {
	switch s {
	case vuln.Critical:
		return 9.5
	case vuln.High:
		return 8
	case vuln.Medium:
		return 5.5
	case vuln.Low:
		return 2
	}
	return 0
}

// locationURI is the path of the file the package was found in, relative,
// without the layer prefix.
func locationURI(f result.Finding) string {
	for _, l := range f.Package.Locations {
		if i := strings.LastIndex(l, ":"); i >= 0 && strings.HasPrefix(l, "sha256:") {
			l = l[i+1:]
		}
		if l = strings.TrimPrefix(l, "/"); l != "" {
			return l
		}
	}
	return "."
}
