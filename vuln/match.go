package vuln

import (
	"context"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/customs-dev/customs/vuln/osvdb"
)

// Finding is one vulnerability of one package: the records that are
// aliases of each other are grouped into one finding.
type Finding struct {
	// ID is the finding's main identifier: the first of IDs.
	ID string `json:"id"`
	// IDs are the matched records' IDs, sorted with GHSA and language
	// database IDs first, then CVEs.
	IDs []string `json:"ids"`
	// Aliases are the records' aliases not among IDs.
	Aliases  []string `json:"aliases,omitempty"`
	Package  Package  `json:"package"`
	Summary  string   `json:"summary,omitempty"`
	Severity Severity `json:"severity"`
	// Score is the highest CVSS base score found, 0 when none.
	Score float64 `json:"cvss_score,omitempty"`
	// Vectors are the CVSS vectors the records carry.
	Vectors []string `json:"cvss_vectors,omitempty"`
	// Fixed lists the versions that fix the package, when known.
	Fixed []string `json:"fixed_versions,omitempty"`
	// Records are the OSV records behind the finding.
	Records []*osvpb.Vulnerability `json:"-"`
}

// Result is what Match found.
type Result struct {
	Findings []Finding
	// Warnings are records that were skipped (they did not parse).
	Warnings []string
	// Revision identifies the database content that was used.
	Revision string
}

// Match finds the vulnerabilities of pkgs. Records that are withdrawn are
// never reported. A package ecosystem the database lacks is a
// *MissingEcosystemError naming it, so that a scan never passes for want of
// data; the result of matching the other packages comes with it, for a
// caller that accepts the gap.
func (db *DB) Match(ctx context.Context, pkgs []Package) (*Result, error) {
	byEco := map[string][]Package{}
	var missing *MissingEcosystemError
	for _, p := range pkgs {
		b := BaseEcosystem(p.Ecosystem)
		if !db.Has(b) {
			if missing == nil {
				missing = &MissingEcosystemError{Dir: db.Dir, Packages: map[string]int{}}
			}
			if missing.Packages[b] == 0 {
				missing.Ecosystems = append(missing.Ecosystems, b)
			}
			missing.Packages[b]++
			continue
		}
		byEco[b] = append(byEco[b], p)
	}
	res := &Result{}
	var ecos []string
	for e := range byEco {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	for _, e := range ecos {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ps := byEco[e]
		names := make([]string, 0, len(ps))
		for _, p := range ps {
			names = append(names, p.Name)
		}
		records, warnings, err := db.Records(e, names)
		if err != nil {
			return nil, err
		}
		warnings = append(append([]string(nil), db.Warnings(e)...), warnings...)
		for _, w := range warnings {
			if !contains(res.Warnings, w) {
				res.Warnings = append(res.Warnings, w)
			}
		}
		byName := map[string][]*osvdb.Record{}
		for _, r := range records {
			if r.View().GetWithdrawn() != nil {
				continue
			}
			for _, a := range r.View().GetAffected() {
				n := BaseEcosystem(a.GetPackage().GetEcosystem()) + "/" + a.GetPackage().GetName()
				if l := byName[n]; len(l) == 0 || l[len(l)-1] != r {
					byName[n] = append(byName[n], r)
				}
			}
		}
		// What matching needs of the records picks those that affect a
		// package; only those are decoded in full, over the cores.
		hits := make([][]*osvdb.Record, len(ps))
		var affecting []*osvdb.Record
		picked := map[*osvdb.Record]bool{}
		for i, p := range ps {
			for _, r := range byName[indexName(p)] {
				if IsAffected(r.View(), p) {
					hits[i] = append(hits[i], r)
					if !picked[r] {
						picked[r] = true
						affecting = append(affecting, r)
					}
				}
			}
		}
		osvdb.Decode(affecting)
		for i, p := range ps {
			var full []*osvpb.Vulnerability
			for _, r := range hits[i] {
				v, err := r.Full()
				if err != nil {
					if w := r.Warning(); !contains(res.Warnings, w) {
						res.Warnings = append(res.Warnings, w)
					}
					continue
				}
				// The whole record decides, as it always did; what was
				// read for matching only spared the others.
				if v.GetWithdrawn() == nil && IsAffected(v, p) {
					full = append(full, v)
				}
			}
			res.Findings = append(res.Findings, group(p, full)...)
		}
	}
	rev, err := db.Revision(ecos)
	if err != nil {
		return nil, err
	}
	res.Revision = rev
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		if a.Package.Version != b.Package.Version {
			return a.Package.Version < b.Package.Version
		}
		return a.ID < b.ID
	})
	if missing != nil {
		sort.Strings(missing.Ecosystems)
		return res, missing
	}
	return res, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// group joins records that name each other as aliases into findings.
func group(p Package, hits []*osvpb.Vulnerability) []Finding {
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, v := range hits {
		for _, id := range append([]string{v.GetId()}, v.GetAliases()...) {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]*osvpb.Vulnerability{}
	var order []int
	for i, v := range hits {
		r := find(i)
		if _, ok := groups[r]; !ok {
			order = append(order, r)
		}
		groups[r] = append(groups[r], v)
	}
	var out []Finding
	for _, r := range order {
		out = append(out, newFinding(p, groups[r]))
	}
	return out
}

func newFinding(p Package, records []*osvpb.Vulnerability) Finding {
	f := Finding{Package: p, Records: records}
	ids := map[string]bool{}
	for _, v := range records {
		ids[v.GetId()] = true
		f.IDs = append(f.IDs, v.GetId())
	}
	sort.Slice(f.IDs, func(i, j int) bool {
		return idRank(f.IDs[i]) < idRank(f.IDs[j]) || idRank(f.IDs[i]) == idRank(f.IDs[j]) && f.IDs[i] < f.IDs[j]
	})
	f.ID = f.IDs[0]
	aliases := map[string]bool{}
	fixed := map[string]bool{}
	for _, v := range records {
		if v.GetId() == f.ID {
			f.Summary = v.GetSummary()
		}
	}
	for _, v := range records {
		if f.Summary == "" {
			f.Summary = v.GetSummary()
		}
		for _, a := range v.GetAliases() {
			if !ids[a] && !aliases[a] {
				aliases[a] = true
				f.Aliases = append(f.Aliases, a)
			}
		}
		for _, a := range v.GetAffected() {
			if a.GetPackage().GetName() != p.Name {
				continue
			}
			for _, r := range a.GetRanges() {
				for _, e := range r.GetEvents() {
					if e.GetFixed() != "" && !fixed[e.GetFixed()] {
						fixed[e.GetFixed()] = true
						f.Fixed = append(f.Fixed, e.GetFixed())
					}
				}
			}
		}
	}
	sort.Strings(f.Aliases)
	f.Severity, f.Score, f.Vectors = severityOf(records)
	return f
}

// idRank orders IDs: the ecosystems' own databases first, then GitHub's,
// then the rest, CVEs last.
func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "GO-"), strings.HasPrefix(id, "PYSEC-"), strings.HasPrefix(id, "RUSTSEC-"):
		return 0
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	case strings.HasPrefix(id, "CVE-"):
		return 3
	}
	return 2
}

// IsAffected reports whether an OSV record affects a package version, with
// the logic of osv-scalibr's local matcher (what osv-scanner uses offline):
// explicit versions, then SEMVER and ECOSYSTEM ranges ordered by the
// ecosystem's version semantics; a package without a version is affected.
func IsAffected(v *osvpb.Vulnerability, p Package) bool {
	for _, a := range v.GetAffected() {
		if a.GetPackage() == nil {
			continue
		}
		if !sameEcosystem(a.GetPackage().GetEcosystem(), p.Ecosystem) || a.GetPackage().GetName() != p.Name {
			continue
		}
		if len(a.GetRanges()) == 0 && len(a.GetVersions()) == 0 {
			continue
		}
		if matchVersion(a.GetVersions(), p.Version) {
			return true
		}
		if rangesAffect(a.GetRanges(), p) {
			return true
		}
		if p.Version == "" {
			return true
		}
	}
	return false
}

// sameEcosystem compares ecosystems with their releases ("Debian:12");
// an affected entry without a release matches every release.
func sameEcosystem(record, pkg string) bool {
	if record == pkg {
		return true
	}
	rb, rs, _ := strings.Cut(record, ":")
	pb, ps, _ := strings.Cut(pkg, ":")
	return rb == pb && (rs == "" || rs == ps)
}

func matchVersion(versions []string, target string) bool {
	if target == "" {
		return false
	}
	t := strings.TrimPrefix(target, "v")
	for _, v := range versions {
		if v == target || strings.TrimPrefix(v, "v") == t {
			return true
		}
	}
	return false
}

func rangesAffect(ranges []*osvpb.Range, p Package) bool {
	for _, r := range ranges {
		if r.GetType() != osvpb.Range_ECOSYSTEM && r.GetType() != osvpb.Range_SEMVER {
			// osv-scalibr stops at the first range of another type.
			return false
		}
		if rangeContains(r, p) {
			return true
		}
	}
	return false
}

func eventVersion(e *osvpb.Event) string {
	for _, s := range []string{e.GetIntroduced(), e.GetFixed(), e.GetLimit(), e.GetLastAffected()} {
		if s != "" {
			return s
		}
	}
	return ""
}

func parseVersion(s, ecosystem string) (v semantic.Version, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	v, err := semantic.Parse(s, ecosystem)
	return v, err == nil
}

func compare(v semantic.Version, s string) (int, bool) {
	c, err := v.CompareStr(s)
	return c, err == nil
}

func rangeContains(r *osvpb.Range, p Package) bool {
	events := r.GetEvents()
	if len(events) == 0 {
		return false
	}
	eco := BaseEcosystem(p.Ecosystem)
	vp, ok := parseVersion(p.Version, eco)
	if !ok {
		return false
	}
	sorted := make([]*osvpb.Event, len(events))
	copy(sorted, events)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.GetIntroduced() == "0" {
			return true
		}
		if b.GetIntroduced() == "0" {
			return false
		}
		va, ok := parseVersion(eventVersion(a), eco)
		if !ok {
			return false
		}
		c, _ := compare(va, eventVersion(b))
		return c < 0
	})
	affected := false
	for _, e := range sorted {
		if affected {
			if e.GetFixed() != "" {
				c, _ := compare(vp, e.GetFixed())
				affected = c < 0
			} else if e.GetLastAffected() != "" {
				c, _ := compare(vp, e.GetLastAffected())
				affected = e.GetLastAffected() == p.Version || c <= 0
			}
		} else if e.GetIntroduced() != "" {
			c, _ := compare(vp, e.GetIntroduced())
			affected = e.GetIntroduced() == "0" || c >= 0
		}
	}
	return affected
}
