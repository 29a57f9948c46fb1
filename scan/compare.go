package scan

import (
	"fmt"
	"sort"

	"github.com/customs-dev/customs/capabilities"
)

// Comparison is what changed from one scan (the base of a change) to
// another (its head): `customs diff`.
type Comparison struct {
	SchemaVersion string `json:"schema_version"`
	Base          Side   `json:"base"`
	Head          Side   `json:"head"`
	// Packages added, removed and changed in version.
	Added   []PackageRef    `json:"packages_added"`
	Removed []PackageRef    `json:"packages_removed"`
	Changed []PackageChange `json:"packages_changed"`
	// Introduced are the head's findings that are new against the base;
	// Fixed the base's findings the head no longer has.
	Introduced []Finding `json:"vulnerabilities_introduced"`
	Fixed      []Finding `json:"vulnerabilities_fixed"`
	// Capabilities gained and lost, module by module (direct), and how
	// capabilities.txt changed.
	CapabilitiesGained []capabilities.Change `json:"capabilities_gained"`
	CapabilitiesLost   []capabilities.Change `json:"capabilities_lost"`
	DeclarationDiff    string                `json:"declaration_diff,omitempty"`
	// Signature is set when the signature status changed.
	Signature *SignatureChange `json:"signature_change,omitempty"`
	// Passed is false when the change brings in what the policy fails:
	// Reasons say what.
	Passed  bool     `json:"passed"`
	Reasons []string `json:"reasons,omitempty"`
}

// ComparisonSchemaVersion is the version of the diff's JSON.
const ComparisonSchemaVersion = "1"

// Side names one of the two scans.
type Side struct {
	Input    string `json:"input"`
	Revision string `json:"revision,omitempty"`
	Digest   string `json:"digest,omitempty"`
}

// PackageChange is a package whose version changed.
type PackageChange struct {
	Name      string `json:"name"`
	Ecosystem string `json:"ecosystem"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// SignatureChange is a change of the signature verdict.
type SignatureChange struct {
	Base string `json:"base"`
	Head string `json:"head"`
}

// CompareOptions says what fails a comparison.
type CompareOptions struct {
	// AllowDeclaredChanges lets a capability gained pass when the head's
	// capabilities.txt grants it.
	AllowDeclaredChanges bool
}

// Compare says what changed from base to head. The head's findings are
// judged as they were when it was scanned (its gate); those it had
// already in the base, or for packages the change did not touch, are not
// introduced.
func Compare(base, head *Result, opts CompareOptions) *Comparison {
	c := &Comparison{
		SchemaVersion: ComparisonSchemaVersion,
		Base:          Side{Input: base.Target.Input, Digest: base.Target.Digest},
		Head:          Side{Input: head.Target.Input, Digest: head.Target.Digest},
		Added:         []PackageRef{}, Removed: []PackageRef{}, Changed: []PackageChange{},
		Introduced: []Finding{}, Fixed: []Finding{},
		CapabilitiesGained: []capabilities.Change{}, CapabilitiesLost: []capabilities.Change{},
		Passed: true,
	}
	// Packages, by ecosystem and name.
	versions := func(r *Result) map[string]map[string]PackageRef {
		m := map[string]map[string]PackageRef{}
		for _, p := range r.Packages.List {
			if m[p.key()] == nil {
				m[p.key()] = map[string]PackageRef{}
			}
			m[p.key()][p.Version] = p
		}
		return m
	}
	bv, hv := versions(base), versions(head)
	for k, hs := range hv {
		bs := bv[k]
		for v, p := range hs {
			if _, ok := bs[v]; ok {
				continue
			}
			if len(bs) == 1 && len(hs) == 1 {
				for from := range bs {
					c.Changed = append(c.Changed, PackageChange{Name: p.Name, Ecosystem: p.Ecosystem, From: from, To: v})
				}
				continue
			}
			c.Added = append(c.Added, p)
		}
		for v, p := range bs {
			if _, ok := hs[v]; !ok && !(len(bs) == 1 && len(hs) == 1) {
				c.Removed = append(c.Removed, p)
			}
		}
	}
	for k, bs := range bv {
		if hv[k] == nil {
			for _, p := range bs {
				c.Removed = append(c.Removed, p)
			}
		}
	}
	sortRefs(c.Added)
	sortRefs(c.Removed)
	sort.Slice(c.Changed, func(i, j int) bool { return c.Changed[i].Name < c.Changed[j].Name })

	b := newBaseline(base)
	failing := 0
	for _, f := range head.Findings {
		if b.existing(f.Finding) {
			continue
		}
		f.Baseline = New
		c.Introduced = append(c.Introduced, f)
		if f.Fails {
			failing++
		}
	}
	c.Fixed = b.fixed(head)
	if failing > 0 {
		c.Reasons = append(c.Reasons, fmt.Sprintf("%d vulnerabilities introduced at or above the threshold (fail-on %s)", failing, head.Gate.FailOn))
	}

	if base.CapabilityAnalysis != nil && head.CapabilityAnalysis != nil {
		for _, ch := range capabilities.Diff(base.CapabilityAnalysis, head.CapabilityAnalysis) {
			if ch.Added {
				c.CapabilitiesGained = append(c.CapabilitiesGained, ch)
			} else {
				c.CapabilitiesLost = append(c.CapabilitiesLost, ch)
			}
		}
		c.DeclarationDiff = lineDiff(base.Declaration, head.Declaration)
		gained := len(c.CapabilitiesGained)
		if opts.AllowDeclaredChanges {
			gained = 0
			if head.Capabilities != nil {
				for _, ch := range c.CapabilitiesGained {
					for _, v := range head.Capabilities.Violations {
						if v.Module == ch.Module && v.Capability == ch.Capability {
							gained++
						}
					}
				}
			}
		}
		if gained > 0 {
			c.Reasons = append(c.Reasons, fmt.Sprintf("%d capabilities gained (review them; capabilities.txt edits in the same change do not grant them without --allow-declared-changes)", gained))
		}
	}

	if bs, hs := signature(base), signature(head); bs != hs {
		c.Signature = &SignatureChange{Base: bs, Head: hs}
		if bs == "verified" {
			c.Reasons = append(c.Reasons, "the head is no longer verified: "+hs)
		}
	}
	c.Passed = len(c.Reasons) == 0
	return c
}

// signature summarizes a scan's verification.
func signature(r *Result) string {
	switch {
	case r.Verification == nil:
		return "not checked"
	case r.Verification.Passed && r.Verification.Unsigned:
		return "allowed unsigned"
	case r.Verification.Passed:
		return "verified"
	default:
		return "failed: " + r.Verification.Check
	}
}

func sortRefs(ps []PackageRef) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		return ps[i].Version < ps[j].Version
	})
}
