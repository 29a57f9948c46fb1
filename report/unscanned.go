package report

import (
	"fmt"
	"strings"

	"github.com/customs-dev/customs/result"
)

// unscanned lists the ecosystems the database had no data for, with their
// package counts: "Debian (4 packages), PyPI (1 package)".
func unscanned(r *result.Result) string {
	var parts []string
	for _, u := range r.Unscanned {
		parts = append(parts, fmt.Sprintf("%s (%s)", u.Ecosystem, plural(u.Packages, "package")))
	}
	return strings.Join(parts, ", ")
}

// SARIF has no result for what was not looked at: a tool execution
// notification in the run's invocation is how a tool says it could not
// analyse part of its input, and GitHub shows those as the run's warnings.
type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Descriptor sarifDescriptor `json:"descriptor"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifDescriptor struct {
	ID string `json:"id"`
}

// sarifInvocations are the run's invocation, with a notification for each
// ecosystem left unscanned; none when every package was matched.
func sarifInvocations(r *result.Result) []sarifInvocation {
	if len(r.Unscanned) == 0 {
		return nil
	}
	inv := sarifInvocation{ExecutionSuccessful: true}
	for _, u := range r.Unscanned {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{
			Level:      "warning",
			Message:    sarifText{Text: fmt.Sprintf("%d %s package(s) not scanned: the vulnerability database has no data for %s", u.Packages, u.Ecosystem, u.Ecosystem)},
			Descriptor: sarifDescriptor{ID: "customs/unscanned-ecosystem"},
			Properties: map[string]any{"ecosystem": u.Ecosystem, "packages": u.Packages},
		})
	}
	return []sarifInvocation{inv}
}
