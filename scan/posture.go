package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/pull"
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

// postureKind is the cache kind of posture reports.
const postureKind = "posture-" + posture.Version

// postureRun checks an image's posture. Prepare it before the SBOM is
// made, so that the posture checks read the layers the SBOM reads; report
// after.
type postureRun struct {
	ref, key string
	scanner  *posture.Scanner
	cached   *posture.Report
}

// newPostureRun returns nil when posture is not checked: it is off, or the
// target is not an image.
func newPostureRun(art *pull.Artifact, ref string, opts Options) *postureRun {
	if !opts.Posture || !art.Target.Kind.IsImage() {
		return nil
	}
	p := &postureRun{ref: ref, key: art.Digest.String() + "|" + ref}
	if c := opts.Pull.Cache; c != nil {
		if b, err := c.Get(postureKind, p.key); err == nil {
			var rep posture.Report
			if json.Unmarshal(b, &rep) == nil {
				p.cached = &rep
			}
		}
	}
	return p
}

// hook is given to the SBOM: the posture checks read the layers it reads.
func (p *postureRun) hook(opts *Options) {
	if p == nil || p.cached != nil {
		return
	}
	opts.SBOM.ReadImage = func(img v1.Image) v1.Image {
		p.scanner = posture.NewScanner(img, p.ref)
		return p.scanner.Image()
	}
}

// report finishes the checks, reading what the SBOM did not.
func (p *postureRun) report(ctx context.Context, art *pull.Artifact, opts Options) (*posture.Report, error) {
	if p == nil {
		return nil, nil
	}
	if p.cached != nil {
		return p.cached, nil
	}
	if p.scanner == nil {
		img, err := art.Image(ctx)
		if err != nil {
			return nil, err
		}
		p.scanner = posture.NewScanner(img, p.ref)
	}
	rep, err := p.scanner.Report(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the posture of %s: %w", art.Target.Input, err)
	}
	if c := opts.Pull.Cache; c != nil {
		if b, err := json.Marshal(rep); err == nil {
			c.Put(postureKind, p.key, b)
		}
	}
	return rep, nil
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
func applyPosture(r *Result, rep *posture.Report, p Policy, now time.Time, base *baseline, failOnExisting bool, used, expired []bool) {
	repo := imageRepo(r.Target.Reference)
	pr := &Posture{Minimal: rep.Minimal, User: rep.User, Layers: rep.Layers, Files: rep.Files, ReadAlone: rep.ReadAlone,
		Required: requiredPosture(p.Posture, repo), Findings: []PostureFinding{}, Warnings: rep.Warnings}
	if pr.Required == nil {
		pr.Required = []string{}
	}
	required := map[string]bool{}
	for _, id := range pr.Required {
		required[id] = true
	}
	failing := map[string][]string{}
	for _, f := range rep.Findings {
		pf := PostureFinding{Finding: f, Status: Affected}
		if ig := ignoreFor(p.Ignores, now, func(ig *Ignore) bool { return ig.matchesPosture(f) }, used, expired); ig != nil {
			pf.Status, pf.Ignore = Ignored, ig
		}
		if base != nil {
			pf.Baseline = New
			if base.posture[f.Key()] {
				pf.Baseline = Existing
			}
		}
		if pf.Status == Affected && required[f.Rule] && (pf.Baseline != Existing || failOnExisting) {
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
func (ig *Ignore) matchesPosture(f posture.Finding) bool {
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
