package admission

import (
	"context"
	"errors"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/vuln"
)

// seenImage is a decision made by a scan, with what re-deciding it under a
// new database needs: the packages the scan inventoried.
type seenImage struct {
	q        question
	rule     *Rule
	decision Decision
	pkgs     []vuln.Package
	when     time.Time
}

// seenImages are the images decided within the rescan window.
type seenImages struct {
	mu sync.Mutex
	m  map[question]*seenImage
}

// remember keeps a fresh decision's inputs for the next database reload.
func (s *Server) remember(q question, rule *Rule, d Decision, res *result.Result) {
	// Only an allowed image can newly fail: a denial stays one.
	if res == nil || !d.Allowed || s.cfg.RescanWindow < 0 {
		return
	}
	pkgs := inventoried(res)
	q.DB = ""
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	if s.seen.m == nil {
		s.seen.m = map[question]*seenImage{}
	}
	s.seen.m[q] = &seenImage{q: q, rule: rule, decision: d, pkgs: pkgs, when: s.now()}
}

// rescan re-decides, against a new revision of the database, the images
// allowed within the rescan window, from the packages their scans
// inventoried: nothing is pulled again. A decision that now fails is
// logged and counted (customs_admission_newly_failing_images); every new
// decision is cached under the new revision, so that the next question is
// answered at once. The Harbor reports are matched again too.
func (s *Server) rescan(st *state) {
	ctx, cancel := context.WithTimeout(s.base, s.cfg.ScanTimeout)
	defer cancel()
	now := s.now()
	s.seen.mu.Lock()
	var todo []*seenImage
	for q, im := range s.seen.m {
		if now.Sub(im.when) > s.cfg.RescanWindow {
			delete(s.seen.m, q)
			continue
		}
		todo = append(todo, im)
	}
	s.seen.mu.Unlock()
	newly := 0
	for _, im := range todo {
		if st.policy == nil || im.q.Policy != st.policy.Hash {
			// A changed policy decides afresh.
			continue
		}
		sp := im.rule.ScanPolicy()
		res, err := s.scanner.Rematch(ctx, imageArtifact(im.decision.Reference, im.q.Digest), im.pkgs, scan.Request{Policy: sp}, now)
		var perr *scan.PolicyError
		d := im.decision
		d.Decided, d.Cached, d.Image = now.UTC(), "", ""
		switch {
		case errors.As(err, &perr):
			d.Allowed = false
			d.Reasons = append(append([]string(nil), perr.Reasons...), failing(res)...)
			newly++
			// Denied now: the next reload has nothing to re-decide.
			s.seen.mu.Lock()
			delete(s.seen.m, im.q)
			s.seen.mu.Unlock()
			s.metrics.newlyFailing.Inc()
			s.logger.Warn("newly failing under the new database", "image", d.Reference, "revision", st.dbRevision, "reasons", d.Reasons)
		case err != nil:
			s.logger.Warn("could not re-decide under the new database", "image", d.Reference, "error", err)
			continue
		}
		q := im.q
		q.DB = st.dbRevision
		d.Expires = now.Add(s.cfg.DecisionTTL).UTC()
		s.cache.Put(s.base, cacheKey(q), &d, s.cfg.DecisionTTL)
	}
	s.rematchHarbor(ctx, now)
	if s.shared != nil {
		s.rematchShared(ctx, s.shared, st.dbRevision, now)
	}
	s.logger.Info("re-decided the recent images under the new database", "revision", st.dbRevision, "images", len(todo), "newly_failing", newly)
}

// inventoried are the packages a scan's result lists, as matching takes
// them.
func inventoried(res *result.Result) []vuln.Package {
	pkgs := make([]vuln.Package, 0, len(res.Packages.List))
	for _, p := range res.Packages.List {
		pkgs = append(pkgs, vuln.Package{Ecosystem: p.Ecosystem, Name: p.Name, Version: p.Version, Locations: p.Locations})
	}
	return pkgs
}

// imageArtifact names an image scanned before by its reference and digest.
func imageArtifact(reference, digest string) *pull.Artifact {
	h, _ := v1.NewHash(digest)
	return &pull.Artifact{Target: pull.Target{Kind: pull.Registry, Ref: reference, Input: reference}, Digest: h, Reference: reference}
}
