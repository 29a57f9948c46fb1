package scan

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/verify"
)

// PostureRequirement makes posture rules fail the scan of the images whose
// repository matches Images (verify.MatchRepo's patterns; "" is every
// image).
type PostureRequirement struct {
	Images  string   `yaml:"images,omitempty" json:"images,omitempty"`
	Require []string `yaml:"require" json:"require"`
	// Source is where the requirement came from.
	Source string `yaml:"-" json:"source,omitempty"`
}

// DefaultPostureRequirement is in force unless a policy says otherwise:
// secrets baked into an image and cryptominers fail every scan.
var DefaultPostureRequirement = PostureRequirement{Require: []string{posture.Secret, posture.Miner}, Source: "default"}

// postureKind is the cache kind of posture reports.
const postureKind = "posture-" + posture.Version

// postureRun checks an image's posture. Make it before the SBOM, whose
// image it wraps so that the posture checks read the layers the SBOM reads;
// report after.
type postureRun struct {
	ref, key string
	cache    *cas.Store
	scanner  *posture.Scanner
	cached   *posture.Report
}

// newPostureRun returns nil when posture is not checked: it is off, or the
// target is not an image.
func (j *job) newPostureRun(art *pull.Artifact, ref string) *postureRun {
	if !j.Posture || !art.Target.Kind.IsImage() {
		return nil
	}
	p := &postureRun{ref: ref, key: art.Digest.String() + "|" + ref, cache: j.Cache}
	if rep, ok := cas.Lookup[*posture.Report](j.Cache, postureKind, p.key); ok {
		p.cached = rep
	}
	return p
}

// wrap is the image the next stage reads: the checks read its layers too,
// unless the report is cached.
func (p *postureRun) wrap(img v1.Image) v1.Image {
	if p == nil || p.cached != nil {
		return img
	}
	if p.scanner == nil {
		p.scanner = posture.NewScanner(img, p.ref)
	}
	return p.scanner.Image()
}

// report finishes the checks, reading what the SBOM did not.
func (p *postureRun) report(ctx context.Context, art *pull.Artifact) (*posture.Report, error) {
	if p == nil {
		return nil, nil
	}
	if p.cached != nil {
		return p.cached, nil
	}
	return cas.Memo(p.cache, postureKind, p.key, func() (*posture.Report, error) {
		// Unless the SBOM read the image, the checks read it alone: the
		// wrap makes their scanner.
		if p.scanner == nil {
			if _, err := art.Image(ctx); err != nil {
				return nil, err
			}
		}
		rep, err := p.scanner.Report(ctx)
		if err != nil {
			return nil, fmt.Errorf("checking the posture of %s: %w", art.Target.Input, err)
		}
		return rep, nil
	})
}

// requiredPosture are the rules required of an image in repository repo.
func requiredPosture(reqs []PostureRequirement, repo string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range reqs {
		if r.Images != "" && !verify.MatchRepo(r.Images, repo) {
			continue
		}
		for _, id := range r.Require {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// imageRepo is the repository of an image's reference, "" when it has none.
func imageRepo(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ""
	}
	return r.Context().Name()
}

// applyPosture sets each posture finding's status and adds the gate's
// reasons. used and expired mark the ignore entries it applied.
func applyPosture(r *result.Result, rep *posture.Report, p Policy, now time.Time, base *baseline, failOnExisting bool, used, expired []bool) {
	repo := imageRepo(r.Target.Reference)
	pr := &result.Posture{Minimal: rep.Minimal, User: rep.User, Layers: rep.Layers, Files: rep.Files, ReadAlone: rep.ReadAlone,
		Required: requiredPosture(p.Posture, repo), Findings: []result.PostureFinding{}, Warnings: rep.Warnings}
	if pr.Required == nil {
		pr.Required = []string{}
	}
	required := map[string]bool{}
	for _, id := range pr.Required {
		required[id] = true
	}
	failing := map[string][]string{}
	for _, f := range rep.Findings {
		pf := result.PostureFinding{Finding: f, Status: result.Affected}
		if ig := ignoreFor(p.Ignores, now, func(ig *result.Ignore) bool { return matchesPosture(ig, f) }, used, expired); ig != nil {
			pf.Status, pf.Ignore = result.Ignored, ig
		}
		if base != nil {
			pf.Baseline = result.New
			if base.posture[f.Key()] {
				pf.Baseline = result.Existing
			}
		}
		if pf.Status == result.Affected && required[f.Rule] && (pf.Baseline != result.Existing || failOnExisting) {
			pf.Fails = true
			failing[f.Rule] = append(failing[f.Rule], f.Path)
		}
		pr.Findings = append(pr.Findings, pf)
	}
	r.Posture = pr
	var rules []string
	for id := range failing {
		rules = append(rules, id)
	}
	sort.Strings(rules)
	for _, id := range rules {
		paths := failing[id]
		shown := paths
		if len(shown) > 3 {
			shown = append(shown[:3:3], fmt.Sprintf("and %d more", len(paths)-3))
		}
		r.Gate.Reasons = append(r.Gate.Reasons, fmt.Sprintf("posture rule %s is required and broken: %s (%s)", id, posture.Rules[id].Title, strings.Join(shown, ", ")))
	}
}

// matchesPosture says whether an ignore entry names a posture finding:
// its rule ID, and its path (a path.Match pattern) when the entry has one.
func matchesPosture(ig *result.Ignore, f posture.Finding) bool {
	if !strings.EqualFold(ig.ID, f.Rule) {
		return false
	}
	if ig.Path == "" {
		return true
	}
	if ig.Path == f.Path {
		return true
	}
	ok, err := path.Match(ig.Path, f.Path)
	return err == nil && ok
}
