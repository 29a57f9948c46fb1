package admission

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/yamlline"
	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/verify"
	"github.com/customs-dev/customs/vuln"
)

// Policy is the server's policy: a trust policy (the YAML of `customs
// verify --policy`, inline) extended with scan rules per image pattern and
// namespace, and namespaces that are never checked.
//
//	version: 1
//	unmatched: deny
//	images:                                  # the trust policy: who must sign
//	  - pattern: registry.example/app/**
//	    authorities: [{key: cosign.pub}]
//	exempt-namespaces: [kube-system]         # globs; allowed without a check
//	defaults:                                # what a rule leaves unsaid
//	  fail-on: high
//	rules:                                   # the first that matches decides
//	  - images: registry.example/app/**      # trust-policy patterns; none: any
//	    namespaces: [prod, prod-*]           # globs; none: any
//	    fail-on: critical                    # low | medium | high | critical
//	    unknown-severity: fail               # fail | pass
//	    allow-unscanned: false
//	    reachability: gate                   # gate | report | off (docs/reachability.md)
//	    ignore: [{id: GHSA-…, reason: …, until: 2026-12-31}]
//	    failure-policy: closed               # closed | open: on timeouts and registry errors
//	    capabilities: capabilities.txt       # the Go executables' modules may do only this
type Policy struct {
	verify.Policy `yaml:",inline"`

	ExemptNamespaces []string `yaml:"exempt-namespaces,omitempty"`
	Defaults         Rule     `yaml:"defaults,omitempty"`
	Rules            []Rule   `yaml:"rules,omitempty"`

	// Hash identifies the policy's content, including the keys and the
	// trusted root it names: decisions are cached under it.
	Hash string `yaml:"-"`
}

// Rule says how images are scanned and what happens when no decision can
// be made.
type Rule struct {
	Images          string   `yaml:"images,omitempty"`
	Namespaces      []string `yaml:"namespaces,omitempty"`
	FailOn          string   `yaml:"fail-on,omitempty"`
	UnknownSeverity string   `yaml:"unknown-severity,omitempty"`
	AllowUnscanned  *bool    `yaml:"allow-unscanned,omitempty"`
	// Reachability is gate (the default: Go vulnerabilities the image's
	// executables do not reach pass), report or off (docs/reachability.md).
	Reachability  string          `yaml:"reachability,omitempty"`
	Ignore        []result.Ignore `yaml:"ignore,omitempty"`
	FailurePolicy string          `yaml:"failure-policy,omitempty"`
	// FailurePolicyK8s is failure-policy spelled as in a webhook
	// configuration (failurePolicy), accepted too; Ignore means open and
	// Fail closed there, and here.
	FailurePolicyK8s string `yaml:"failurePolicy,omitempty"`
	// Capabilities is a capabilities.txt (relative to the policy file)
	// that the Go executables of the image are held against.
	Capabilities string `yaml:"capabilities,omitempty"`
	// Posture are the posture rules (root-user, attack-tool, ...) whose
	// findings deny an image, besides secret and miner, which always do.
	Posture []string `yaml:"posture,omitempty"`

	// Line is where the rule starts in the file; 0 for the defaults.
	Line int `yaml:"-"`
	scan scan.Policy
	decl *capabilities.File
}

// Failure policies.
const (
	FailClosed = "closed"
	FailOpen   = "open"
)

// ErrPolicy marks a policy that cannot be used.
var ErrPolicy = verify.ErrPolicy

const maxPolicySize = 1 << 20

// LoadPolicy reads a policy and the keys and trusted root it names.
func LoadPolicy(file string) (*Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the policy: %w", err)
	}
	p, err := ParsePolicy(file, b)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	if err := p.LoadMaterial(dir); err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(b)
	// The files the policy names are part of what it says.
	var named []string
	if p.TrustedRoot != "" {
		named = append(named, p.TrustedRoot)
	}
	for _, ip := range p.Images {
		for _, a := range ip.Authorities {
			if a.Key != "" {
				named = append(named, a.Key)
			}
		}
	}
	rel := func(f string) string {
		if filepath.IsAbs(f) {
			return f
		}
		return filepath.Join(dir, f)
	}
	for _, f := range named {
		c, err := os.ReadFile(rel(f))
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", file, ErrPolicy, err)
		}
		fmt.Fprintf(h, "\n%s %x", f, sha256.Sum256(c))
	}
	// Declarations of capabilities, read once per file.
	decls := map[string]*capabilities.File{}
	for _, r := range append([]*Rule{&p.Defaults}, rulePointers(p.Rules)...) {
		if r.Capabilities == "" {
			continue
		}
		if decls[r.Capabilities] == nil {
			c, err := os.ReadFile(rel(r.Capabilities))
			if err != nil {
				return nil, fmt.Errorf("%s: %w: capabilities: %v", file, ErrPolicy, err)
			}
			d, err := capabilities.Parse(rel(r.Capabilities), c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w: %v", file, ErrPolicy, err)
			}
			decls[r.Capabilities] = d
			fmt.Fprintf(h, "\n%s %x", r.Capabilities, sha256.Sum256(c))
		}
		r.decl = decls[r.Capabilities]
	}
	p.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return p, nil
}

// ParsePolicy parses and checks a policy; keys and the trusted root are
// not read (LoadPolicy does that).
func ParsePolicy(source string, b []byte) (*Policy, error) {
	bad := func(at, format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", at, ErrPolicy, fmt.Sprintf(format, args...))
	}
	if len(b) > maxPolicySize {
		return nil, bad(source, "larger than %d bytes", maxPolicySize)
	}
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, bad(source, "the file is empty")
		}
		return nil, bad(source, "%v", err)
	}
	if err := p.Policy.Check(source, b); err != nil {
		return nil, err
	}
	for j, line := range yamlline.Items(b, "rules") {
		if j < len(p.Rules) {
			p.Rules[j].Line = line
		}
	}
	for _, ns := range p.ExemptNamespaces {
		if _, err := path.Match(ns, ""); err != nil {
			return nil, bad(source, "exempt-namespaces: %q: %v", ns, err)
		}
	}
	base := scan.DefaultPolicy()
	if err := p.Defaults.compile(base, FailClosed); err != nil {
		return nil, bad(source, "defaults: %v", err)
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		at := fmt.Sprintf("%s:%d", source, r.Line)
		if r.Images != "" {
			if _, err := path.Match(strings.ReplaceAll(r.Images, "**", "*"), ""); err != nil {
				return nil, bad(at, "images: %q: %v", r.Images, err)
			}
		}
		for _, ns := range r.Namespaces {
			if _, err := path.Match(ns, ""); err != nil {
				return nil, bad(at, "namespaces: %q: %v", ns, err)
			}
		}
		// A rule inherits what it does not say from the defaults.
		if r.FailOn == "" {
			r.FailOn = p.Defaults.FailOn
		}
		if r.UnknownSeverity == "" {
			r.UnknownSeverity = p.Defaults.UnknownSeverity
		}
		if r.AllowUnscanned == nil {
			r.AllowUnscanned = p.Defaults.AllowUnscanned
		}
		if r.Reachability == "" {
			r.Reachability = p.Defaults.Reachability
		}
		r.Ignore = append(r.Ignore, p.Defaults.Ignore...)
		if r.Capabilities == "" {
			r.Capabilities = p.Defaults.Capabilities
		}
		r.Posture = append(r.Posture, p.Defaults.Posture...)
		if err := r.compile(base, p.Defaults.FailurePolicy); err != nil {
			return nil, bad(at, "%v", err)
		}
	}
	for i := range p.Rules {
		for j := range p.Rules[i].Ignore {
			if p.Rules[i].Ignore[j].Source == "" {
				p.Rules[i].Ignore[j].Source = fmt.Sprintf("%s:%d", source, p.Rules[i].Line)
			}
		}
	}
	return &p, nil
}

// compile checks a rule and makes the scan policy it stands for.
func (r *Rule) compile(base scan.Policy, failure string) error {
	sp := base
	if r.FailOn != "" {
		s, err := vuln.ParseSeverity(r.FailOn)
		if err != nil || s == vuln.Unknown {
			return fmt.Errorf("fail-on: %q: use low, medium, high or critical", r.FailOn)
		}
		sp.FailOn = s
	}
	switch r.UnknownSeverity {
	case "", "fail":
	case "pass":
		sp.UnknownSeverityPasses = true
	default:
		return fmt.Errorf("unknown-severity: %q: use fail or pass", r.UnknownSeverity)
	}
	if r.AllowUnscanned != nil {
		sp.AllowUnscanned = *r.AllowUnscanned
	}
	reachability, err := scan.ParseReachability(r.Reachability)
	if err != nil {
		return fmt.Errorf("reachability: %q: use gate, report or off", r.Reachability)
	}
	sp.Reachability = reachability
	for _, ig := range r.Ignore {
		if ig.ID == "" {
			return errors.New("an ignore entry has no id")
		}
		if ig.Reason == "" {
			return fmt.Errorf("ignore %s: give a reason", ig.ID)
		}
	}
	sp.Ignores = r.Ignore
	if err := posture.CheckRules(r.Posture); err != nil {
		return fmt.Errorf("posture: %v", err)
	}
	if len(r.Posture) > 0 {
		sp.Posture = append(append([]scan.PostureRequirement(nil), sp.Posture...), scan.PostureRequirement{Require: r.Posture, Source: "admission policy"})
	}
	// A server has no one to warn about old data at each decision; it
	// reports the data's age in its metrics and logs instead.
	sp.WarnDBAge = 0
	if r.FailurePolicyK8s != "" {
		if r.FailurePolicy != "" {
			return errors.New("failure-policy and failurePolicy both given: keep one")
		}
		switch strings.ToLower(r.FailurePolicyK8s) {
		case "open", "ignore":
			r.FailurePolicy = FailOpen
		case "closed", "fail":
			r.FailurePolicy = FailClosed
		default:
			return fmt.Errorf("failurePolicy: %q: use closed or open (Fail or Ignore)", r.FailurePolicyK8s)
		}
	}
	switch r.FailurePolicy {
	case "":
		r.FailurePolicy = failure
	case FailClosed, FailOpen:
	default:
		return fmt.Errorf("failure-policy: %q: use closed or open", r.FailurePolicy)
	}
	r.scan = sp
	return nil
}

// Exempt reports whether a namespace is never checked.
func (p *Policy) Exempt(namespace string) bool {
	return namespace != "" && matchAny(p.ExemptNamespaces, namespace)
}

// RuleFor returns the rule that decides an image repository in a
// namespace ("" outside Kubernetes), and its number (0 for the defaults),
// which is part of the cache key.
func (p *Policy) RuleFor(repo, namespace string) (*Rule, int) {
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Images != "" && !verify.MatchRepo(r.Images, repo) {
			continue
		}
		if len(r.Namespaces) > 0 && !matchAny(r.Namespaces, namespace) {
			continue
		}
		return r, i + 1
	}
	return &p.Defaults, 0
}

// entryFor is the number (1-based) of the trust-policy entry that decides
// who must sign a repository's images, or unmatched. It is the first
// entry whose pattern matches, as verify.Policy.For finds it.
func (p *Policy) entryFor(repo string) int {
	for i := range p.Images {
		if verify.MatchRepo(p.Images[i].Pattern, repo) {
			return i + 1
		}
	}
	return unmatched
}

// ScanPolicy is what the rule holds a scan against.
func (r *Rule) ScanPolicy() scan.Policy { return r.scan }

// Declaration is the capabilities.txt the rule holds Go executables
// against, or nil.
func (r *Rule) Declaration() *capabilities.File { return r.decl }

func rulePointers(rs []Rule) []*Rule {
	out := make([]*Rule, len(rs))
	for i := range rs {
		out[i] = &rs[i]
	}
	return out
}

// Describe names the rule in messages.
func (r *Rule) Describe(source string) string {
	if r.Line == 0 {
		return "the defaults of " + source
	}
	return fmt.Sprintf("the rule at %s:%d", source, r.Line)
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

// nextExpiry is the soonest time an ignore entry of the policy expires:
// decisions must not be cached past it.
func (p *Policy) nextExpiry(after time.Time) time.Time {
	var t time.Time
	for _, r := range append([]Rule{p.Defaults}, p.Rules...) {
		for _, ig := range r.Ignore {
			if !ig.Until.IsZero() && ig.Until.After(after) && (t.IsZero() || ig.Until.Before(t)) {
				t = ig.Until.Time
			}
		}
	}
	return t
}
