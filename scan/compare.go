package scan

import (
	"fmt"
	"sort"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/hint"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/vuln/reach"
)

// CompareOptions says what fails a comparison.
type CompareOptions struct {
	// AllowDeclaredChanges lets a capability gained pass when the head's
	// capabilities.txt grants it.
	AllowDeclaredChanges bool
	// Spell words a setting as the front end's users write it (see
	// Scanner.Spell); nil leaves it as it is.
	Spell func(setting string) string
}

func (o CompareOptions) spell(setting string) string {
	if o.Spell == nil {
		return hint.Plain(setting)
	}
	return o.Spell(setting)
}

// Compare says what changed from base to head. The head's findings are
// judged as they were when it was scanned (its gate); those it had
// already in the base, or for packages the change did not touch, are not
// introduced.
func Compare(base, head *result.Result, opts CompareOptions) *result.Comparison {
	c := &result.Comparison{
		SchemaVersion: result.ComparisonSchemaVersion,
		Base:          result.Side{Input: base.Target.Input, Digest: base.Target.Digest},
		Head:          result.Side{Input: head.Target.Input, Digest: head.Target.Digest},
		Added:         []result.PackageRef{}, Removed: []result.PackageRef{}, Changed: []result.PackageChange{},
		Introduced: []result.Finding{}, Fixed: []result.Finding{},
		CapabilitiesGained: []capabilities.Change{}, CapabilitiesLost: []capabilities.Change{},
		Passed: true,
	}
	// Packages, by ecosystem and name.
	versions := func(r *result.Result) map[string]map[string]result.PackageRef {
		m := map[string]map[string]result.PackageRef{}
		for _, p := range r.Packages.List {
			if m[p.Key()] == nil {
				m[p.Key()] = map[string]result.PackageRef{}
			}
			m[p.Key()][p.Version] = p
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
					c.Changed = append(c.Changed, result.PackageChange{Name: p.Name, Ecosystem: p.Ecosystem, From: from, To: v})
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
		if from := b.level(f.Finding); from != "" && f.Reachability != "" && from != f.Reachability {
			c.Reachability = append(c.Reachability, result.ReachabilityChange{ID: f.ID, Package: f.Package.Name, Version: f.Package.Version, From: from, To: f.Reachability})
		}
		if b.existing(f.Finding, reach.Level(f.Reachability)) {
			continue
		}
		f.Baseline = result.New
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
			c.Reasons = append(c.Reasons, fmt.Sprintf("%d capabilities gained (review them; capabilities.txt edits in the same change do not grant them without %s)", gained, opts.spell("allow-declared-changes")))
		}
	}

	if bs, hs := signature(base), signature(head); bs != hs {
		c.Signature = &result.SignatureChange{Base: bs, Head: hs}
		if bs == "verified" {
			c.Reasons = append(c.Reasons, "the head is no longer verified: "+hs)
		}
	}
	c.Passed = len(c.Reasons) == 0
	return c
}

// signature summarizes a scan's verification.
func signature(r *result.Result) string {
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

func sortRefs(ps []result.PackageRef) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		return ps[i].Version < ps[j].Version
	})
}
