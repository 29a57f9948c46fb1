package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/customs-dev/customs/internal/yamlline"
	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln"
)

// Policy is what a scan is held against.
type Policy struct {
	// FailOn is the lowest severity that fails the scan.
	FailOn vuln.Severity
	// UnknownSeverityPasses lets findings without any severity pass; by
	// default they fail, so that a gate never opens for want of data.
	UnknownSeverityPasses bool
	// Ignores suppress findings until they expire.
	Ignores []result.Ignore
	// VEX statements suppress findings they declare not_affected or fixed.
	VEX []result.VEXStatement
	// MaxDBAge fails the scan when the vulnerability data is older; 0 never
	// fails. WarnDBAge only warns (default 7 days).
	MaxDBAge, WarnDBAge time.Duration
	// AllowUnscanned passes packages whose vulnerabilities customs cannot
	// know: distribution packages that matching cannot look up (rpm, say),
	// which otherwise fail the gate, and packages of ecosystems the
	// database has no data for, which otherwise fail the scan (a
	// *vuln.MissingEcosystemError). Neither may open a gate because customs
	// cannot see; allowed, both are reported (Result.Packages.Gaps,
	// Result.Unscanned) and warned of, and the gate holds what was scanned.
	AllowUnscanned bool
	// Posture are the posture rules required of images, by repository.
	Posture []PostureRequirement
	// Reachability says whether Go findings in executables are graded by
	// how far the program reaches them, and whether those it does not
	// reach pass ("" is ReachGate).
	Reachability Reachability
}

// DefaultPolicy fails on HIGH and above, and on UNKNOWN.
func DefaultPolicy() Policy {
	return Policy{FailOn: vuln.High, WarnDBAge: 7 * 24 * time.Hour, Posture: []PostureRequirement{DefaultPostureRequirement}}
}

type Config struct {
	Ignore []result.Ignore `yaml:"ignore"`
	// Posture requires posture rules of images, by repository pattern.
	Posture []PostureRequirement `yaml:"posture"`
	// Reachability is the reachability setting (gate, report, off), ""
	// when the file does not say.
	Reachability Reachability `yaml:"reachability,omitempty"`
}

// ErrConfig reports an ignore file that does not parse.
var ErrConfig = errors.New("invalid config")

const maxConfigSize = 4 << 20

// ReadConfig reads an ignore file. Unknown keys are errors, so that a typo
// does not silently ignore nothing (or everything).
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, b)
}

// ParseConfig parses an ignore file's contents.
func ParseConfig(path string, b []byte) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrConfig, maxConfigSize)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return &c, nil
		}
		return nil, fmt.Errorf("%s: %w: %v", path, ErrConfig, err)
	}
	// Line numbers, for messages about expired and unused entries.
	for j, line := range yamlline.Items(b, "ignore") {
		if j < len(c.Ignore) {
			c.Ignore[j].Source = fmt.Sprintf("%s:%d", path, line)
		}
	}
	for j, line := range yamlline.Items(b, "posture") {
		if j < len(c.Posture) {
			c.Posture[j].Source = fmt.Sprintf("%s:%d", path, line)
		}
	}
	for _, r := range c.Posture {
		if len(r.Require) == 0 {
			return nil, fmt.Errorf("%s: %w: a posture entry requires no rule", r.Source, ErrConfig)
		}
		if err := posture.CheckRules(r.Require); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", r.Source, ErrConfig, err)
		}
	}
	if c.Reachability != "" {
		if _, err := ParseReachability(string(c.Reachability)); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", path, ErrConfig, err)
		}
	}
	for _, ig := range c.Ignore {
		if ig.ID == "" {
			return nil, fmt.Errorf("%s: %w: an ignore entry has no id", ig.Source, ErrConfig)
		}
		if strings.TrimSpace(ig.Reason) == "" {
			return nil, fmt.Errorf("%s: %w: ignore %s has no reason; say why it is safe", ig.Source, ErrConfig, ig.ID)
		}
	}
	return &c, nil
}
