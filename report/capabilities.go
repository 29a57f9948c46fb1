package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/result"
)

// capabilityLines says in lines what the capability check found: a
// heading, then one line per undeclared capability with its call path,
// then the warnings.
func capabilityLines(rep *capabilities.Report) []string {
	var out []string
	if rep.Passed() {
		out = append(out, fmt.Sprintf("capabilities: every capability the code exercises is declared in %s", rep.Declared))
	} else {
		out = append(out, fmt.Sprintf("capabilities: %d not declared in %s", len(rep.Violations), rep.Declared))
	}
	for _, v := range rep.Violations {
		out = append(out, fmt.Sprintf("  NOT DECLARED %s %s: %s", v.Module, v.Capability, capabilities.PathString(v.Path)))
	}
	for _, v := range rep.Warnings {
		out = append(out, fmt.Sprintf("  warning: %s %s allowed only by \"unlisted warn\": %s", v.Module, v.Capability, capabilities.PathString(v.Path)))
	}
	for _, u := range rep.Unused {
		out = append(out, fmt.Sprintf("  warning: %s:%d grants %s %s, which no code uses", rep.Declared, u.Line, u.Subject, u.Capability))
	}
	return out
}

// capabilityLocation is where the undeclared call is made: the first
// frame's file and line.
func capabilityLocation(v capabilities.Violation) (string, int) {
	if len(v.Path) == 0 || v.Path[0].Pos == "" {
		return ".", 0
	}
	pos := v.Path[0].Pos
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return pos, 0
	}
	line, _ := strconv.Atoi(pos[i+1:])
	return pos[:i], line
}

// capabilityRuleID is the SARIF rule of an undeclared capability.
func capabilityRuleID(c capabilities.Capability) string {
	return "customs/capability/" + string(c)
}

// withCapabilities adds the capability check's violations to a SARIF run.
func withCapabilities(run *sarifRun, r *result.Result) {
	rep := r.Capabilities
	if rep == nil {
		return
	}
	ruleIndex := map[string]int{}
	for _, v := range rep.Violations {
		id := capabilityRuleID(v.Capability)
		idx, ok := ruleIndex[id]
		if !ok {
			idx = len(run.Tool.Driver.Rules)
			ruleIndex[id] = idx
			text := fmt.Sprintf("A module exercises %s, which %s does not grant it", v.Capability, rep.Declared)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
				ID:               id,
				ShortDescription: sarifText{Text: "Undeclared capability " + string(v.Capability)},
				FullDescription:  sarifText{Text: text},
				Help:             sarifHelp{Text: text + ": grant it in " + rep.Declared + " if it is expected, or remove the call.", Markdown: md(text) + ": grant it in `" + rep.Declared + "` if it is expected, or remove the call."},
				Properties:       map[string]any{"tags": []string{"security", "supply-chain", "capability"}},
			})
		}
		file, line := capabilityLocation(v)
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: file}}}
		if line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
		}
		run.Results = append(run.Results, sarifResult{
			RuleID:     id,
			RuleIndex:  idx,
			Level:      "error",
			Message:    sarifText{Text: fmt.Sprintf("%s exercises %s, not declared in %s: %s", v.Module, v.Capability, rep.Declared, capabilities.PathString(v.Path))},
			Locations:  []sarifLocation{loc},
			Properties: map[string]any{"module": v.Module, "capability": string(v.Capability)},
		})
	}
}
