package result

import "github.com/customs-dev/customs/posture"

// Posture is what the scan made of the image's posture.
type Posture struct {
	Minimal bool   `json:"minimal"`
	User    string `json:"user"`
	Layers  int    `json:"layers"`
	Files   int    `json:"files"`
	// ReadAlone counts the layers the checks read by themselves.
	ReadAlone int `json:"read_alone"`
	// Required are the rules whose findings fail the scan of this image.
	Required []string         `json:"required"`
	Findings []PostureFinding `json:"findings"`
	Warnings []string         `json:"warnings,omitempty"`
}

// PostureFinding is a posture finding with what the policy made of it.
type PostureFinding struct {
	posture.Finding
	Status Status  `json:"status"`
	Fails  bool    `json:"fails"`
	Ignore *Ignore `json:"ignore,omitempty"`
	// Baseline is "new" or "existing" when the scan had a baseline: an
	// existing finding (the same rule at the same path) fails only with
	// --fail-on-existing.
	Baseline string `json:"baseline,omitempty"`
}
