package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/hint"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/verify"
	"github.com/customs-dev/customs/vuln"
)

// Decision is the verdict on one image.
type Decision struct {
	// Image is the reference as asked; Reference names it by digest, the
	// digest that was verified and scanned.
	Image     string `json:"image"`
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Allowed   bool   `json:"allowed"`
	// Reasons say why the image was denied; Warnings what passed anyway
	// (findings below the threshold, an open failure policy).
	Reasons  []string `json:"reasons,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Rule is the policy rule that decided.
	Rule string `json:"rule,omitempty"`
	// Cached names the cache level that answered, "" for a fresh decision.
	Cached  string    `json:"cached,omitempty"`
	Decided time.Time `json:"decided"`
	Expires time.Time `json:"expires,omitzero"`
}

// Decide decides whether an image may run in a namespace ("" outside
// Kubernetes). It always returns a decision: when none can be made (the
// budget in ctx runs out, the registry fails), the image is denied and the
// reasons say why, unless the rule's failure policy is open.
func (s *Server) Decide(ctx context.Context, image, namespace string) *Decision {
	d := s.decide(ctx, image, namespace)
	if d.Allowed && len(d.insecure) > 0 {
		// Clipped: the warnings may share their array with a cached
		// decision, which other requests read.
		d.Warnings = append(slices.Clip(d.Warnings), d.insecure...)
	}
	switch {
	case d.failure:
		s.metrics.decisions.WithLabelValues("error").Inc()
	case d.Allowed:
		s.metrics.decisions.WithLabelValues("allowed").Inc()
	default:
		s.metrics.decisions.WithLabelValues("denied").Inc()
	}
	return &d.Decision
}

type decision struct {
	Decision
	failure bool // no decision could be made
	// insecure says which checks the trust-policy entry waives, if any;
	// an allowed image carries them as warnings.
	insecure []string
}

func (s *Server) decide(ctx context.Context, image, namespace string) decision {
	st := s.state.Load()
	if shown := redactCredentials(image); shown != image {
		// An image reference never holds credentials; do not echo or log
		// them.
		return decision{Decision: Decision{Image: shown, Decided: s.now().UTC(),
			Reasons: []string{"invalid image reference " + shown + ": write REGISTRY/REPO:TAG, without a scheme or credentials"}}}
	}
	d := decision{Decision: Decision{Image: image, Decided: s.now().UTC()}}
	if st == nil || st.policy == nil {
		d.failure = true
		d.Reasons = []string{"the server has no policy loaded yet"}
		return d
	}
	pol := st.policy
	if pol.Exempt(namespace) {
		d.Allowed = true
		d.Warnings = []string{fmt.Sprintf("namespace %s is exempt (exempt-namespaces in %s)", namespace, pol.Source)}
		return d
	}
	t := pull.Target{Kind: pull.Registry, Ref: image, Input: image}
	ref, ro, err := pull.Remote(ctx, t, s.cfg.Pull)
	if err != nil {
		d.Reasons = []string{reason(err)}
		return d
	}
	// Trust is decided on the reference as written, before anything is
	// reused: a repository no entry covers is denied here, without a
	// cache lookup or a registry request.
	repo := ref.Context().Name()
	entry := pol.entryFor(repo)
	if entry == unmatched && pol.Unmatched != "allow" {
		d.Reasons = []string{"signature verification failed: " + pol.NotAllowed(repo).Error()}
		return d
	}
	if entry != unmatched {
		ip := &pol.Images[entry-1]
		for _, w := range ip.Waivers() {
			d.insecure = append(d.insecure, fmt.Sprintf("%s (%s:%d): %s are accepted without %s", w.Option, pol.Source, ip.Line, w.What, w.Without))
		}
	}
	rule, ruleID := pol.RuleFor(repo, namespace)
	d.Rule = rule.Describe(pol.Source)
	fail := func(reason string) decision { return rule.failed(d, reason) }
	// Within a budget of seconds, go-containerregistry's retries (1 s, 3 s,
	// …) would only turn a registry's error into a timeout.
	ro = append(ro, remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}))
	digest, err := s.resolve(ctx, ref, ro)
	if err != nil {
		if ctx.Err() != nil {
			s.metrics.timeouts.Inc()
			return fail(fmt.Sprintf("no decision within the time budget of %s: resolving %s did not finish", s.cfg.Budget, image))
		}
		s.metrics.errors.WithLabelValues(causeRegistry).Inc()
		return fail(reason(err))
	}
	d.Digest = digest
	d.Reference = repo + "@" + digest
	// A verdict answers one question: this repository's image, under this
	// trust entry, rule, policy and database. Signatures live per
	// repository, so a digest allowed in one repository says nothing of
	// the same digest in another.
	q := question{Repo: repo, Digest: digest, Entry: entry, Rule: ruleID, Policy: pol.Hash, DB: st.dbRevision}
	key := cacheKey(q)
	if c, level := s.cache.Get(ctx, key); c != nil {
		s.metrics.cacheHits.WithLabelValues(level).Inc()
		out := *c
		out.Image, out.Cached = image, level
		return decision{Decision: out, insecure: d.insecure}
	}
	s.metrics.cacheMisses.Inc()
	ch := s.flight.DoChan(key, func() (any, error) {
		return s.scan(st, rule, d.Decision, q), nil
	})
	select {
	case r := <-ch:
		out := r.Val.(decision)
		out.Image, out.insecure = image, d.insecure
		if out.failure {
			reasons := out.Reasons
			out.Reasons = nil
			return rule.failed(out, reasons...)
		}
		return out
	case <-ctx.Done():
		s.metrics.timeouts.Inc()
		return fail(fmt.Sprintf("no decision within the time budget of %s: the scan of %s goes on, and a retry will find its decision", s.cfg.Budget, d.Reference))
	}
}

// failed is d when no decision could be made, for the reasons given: a
// denial, or, under failure-policy open, an admission with a warning.
func (r *Rule) failed(d decision, reasons ...string) decision {
	d.failure = true
	if r.FailurePolicy != FailOpen {
		d.Reasons = append(d.Reasons, reasons...)
		return d
	}
	d.Allowed = true
	for _, reason := range reasons {
		d.Warnings = append(d.Warnings, "allowed without a decision (failure-policy: open): "+reason)
	}
	return d
}

// scan makes a fresh decision. It runs detached from the request, bounded
// by the scan timeout and the server's life, so that a scan that outlives
// one request's budget still answers the retry.
func (s *Server) scan(st *state, rule *Rule, d Decision, q question) decision {
	key := cacheKey(q)
	s.wg.Add(1)
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.base, s.cfg.ScanTimeout)
	defer cancel()
	release, err := s.scanSlot(ctx)
	if err != nil {
		d.Reasons = []string{err.Error()}
		return decision{Decision: d, failure: true}
	}
	defer release()
	start := s.now()
	pol := st.policy
	sp := rule.ScanPolicy()
	t := pull.Target{Kind: pull.Registry, Ref: d.Reference, Input: d.Reference}
	req := scan.Request{
		Policy: sp,
		Trust:  &pol.Policy,
		// Image targets: the compiled Go executables are held against it.
		Capabilities: rule.Declaration(),
		// How the image is built: the rule's posture requirements deny.
		Posture: true,
	}
	res, err := s.scanner.Scan(ctx, t, req)
	var perr *scan.PolicyError
	var lerr *pull.LimitError
	var rerr *verify.ReferrerLimitError
	out := decision{Decision: d}
	switch {
	case errors.As(err, &perr):
		out.Reasons = append(perr.Reasons, failing(res)...)
	case errors.As(err, &lerr), errors.As(err, &rerr):
		// Over a limit is the image's doing, not a failure to decide: a
		// denial, whatever the failure policy, and cached. So is an image
		// that lists more undecidable referrers than are read.
		out.Reasons = []string{reason(err)}
	case err != nil:
		out.failure = true
		if ctx.Err() != nil {
			out.Reasons = []string{fmt.Sprintf("scanning %s: gave up after the scan timeout of %s: %s", d.Reference, s.cfg.ScanTimeout, reason(err))}
		} else {
			s.metrics.errors.WithLabelValues(cause(err)).Inc()
			out.Reasons = []string{fmt.Sprintf("scanning %s: %s", d.Reference, reason(err))}
		}
		s.logger.Warn("no decision", "image", d.Reference, "error", err)
		return out
	default:
		out.Allowed = true
	}
	out.Warnings = append(out.Warnings, belowThreshold(res, sp)...)
	out.Warnings = append(out.Warnings, unscanned(res)...)
	now := s.now()
	ttl := s.cfg.DecisionTTL
	// An ignore entry that expires ends the decisions it made.
	if exp := pol.nextExpiry(now); !exp.IsZero() && exp.Sub(now) < ttl {
		ttl = exp.Sub(now)
	}
	out.Expires = now.Add(ttl).UTC()
	s.cache.Put(s.base, key, &out.Decision, ttl)
	s.remember(q, rule, out.Decision, res)
	s.logger.Info("decided", "image", d.Reference, "allowed", out.Allowed, "reasons", out.Reasons, "took", now.Sub(start).Round(time.Millisecond))
	return out
}

// scanSlot waits for one of the max-scans slots, counts the scan and
// returns the function that frees the slot.
func (s *Server) scanSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.scanSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, errors.New("no scan slot became free before the scan timeout (the server's max-scans setting bounds the scans at once)")
	}
	s.metrics.scans.Inc()
	s.metrics.scansRunning.Inc()
	return func() {
		s.metrics.scansRunning.Dec()
		<-s.scanSlots
	}, nil
}

// reason words an error for whoever reads a denial: the settings its hints
// name are keys of a policy rule where the policy has them, flags where the
// advice is a command to run (customs db update, for the operator), and
// otherwise settings of the server (customs serve's flags of that name).
func reason(err error) string { return hint.Word(err, spell) }

// spell words a setting for the server's users: a key of the policy's
// rules, the flag of customs db update, else a setting of the server.
func spell(setting string) string {
	switch {
	case ruleKeys[setting]:
		return setting + ":"
	case setting == "ecosystem":
		return "--" + setting
	}
	return "the server's " + setting + " setting"
}

// ruleKeys are the keys of a rule (and of defaults) in the policy.
var ruleKeys = map[string]bool{"fail-on": true, "unknown-severity": true, "allow-unscanned": true, "reachability": true}

// cause says what failed when a scan could not decide.
func cause(err error) string {
	var rerr *pull.RegistryError
	var merr *vuln.MissingEcosystemError
	switch {
	case errors.As(err, &rerr):
		return causeRegistry
	case errors.As(err, &merr), errors.Is(err, vuln.ErrNoDatabase):
		return causeDatabase
	}
	return causeScan
}

// failing names the findings that failed a scan, the worst first.
func failing(res *result.Result) []string {
	if res == nil {
		return nil
	}
	var fs []result.Finding
	for _, f := range res.Findings {
		if f.Fails {
			fs = append(fs, f)
		}
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity > fs[j].Severity })
	var out []string
	for i, f := range fs {
		if i == 10 {
			out = append(out, fmt.Sprintf("and %d more", len(fs)-10))
			break
		}
		fix := "no fixed version"
		if len(f.Fixed) > 0 {
			fix = "fixed in " + strings.Join(f.Fixed, ", ")
		}
		out = append(out, fmt.Sprintf("%s (%s) in %s %s, %s", f.ID, f.Severity, f.Package.Name, f.Package.Version, fix))
	}
	if res.Capabilities != nil {
		for i, v := range res.Capabilities.Violations {
			if i == 10 {
				out = append(out, fmt.Sprintf("and %d more undeclared capabilities", len(res.Capabilities.Violations)-10))
				break
			}
			out = append(out, fmt.Sprintf("%s uses %s, not declared: %s", v.Module, v.Capability, capabilities.PathString(v.Path)))
		}
	}
	return out
}

// belowThreshold says what a scan found that did not fail it.
func belowThreshold(res *result.Result, p scan.Policy) []string {
	if res == nil {
		return nil
	}
	var ids []string
	for _, f := range res.Findings {
		if f.Status == result.Affected && !f.Fails {
			ids = append(ids, f.ID+" ("+f.Package.Name+")")
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	n, more := len(ids), ""
	if n > 5 {
		more = fmt.Sprintf(" and %d more", n-5)
		ids = ids[:5]
	}
	return []string{fmt.Sprintf("%d vulnerabilities below the threshold (fail-on %s): %s%s", n, p.FailOn, strings.Join(ids, ", "), more)}
}

// unscanned says which of the image's packages allow-unscanned let through
// without data, so that an admitted image's blind spot is not silent.
func unscanned(res *result.Result) []string {
	if res == nil || len(res.Unscanned) == 0 {
		return nil
	}
	var parts []string
	for _, u := range res.Unscanned {
		parts = append(parts, fmt.Sprintf("%s (%d packages)", u.Ecosystem, u.Packages))
	}
	return []string{"not scanned, the vulnerability database has no data for " + strings.Join(parts, ", ") + " (allow-unscanned)"}
}

// question is what a decision answers; decisions are cached, coalesced
// and shared between replicas under its key, and only under it.
type question struct {
	Repo   string // canonical repository: registry host and path
	Digest string
	Entry  int    // the trust-policy entry that matched (1-based), or unmatched
	Rule   int    // the admission rule (0: the defaults)
	Policy string // the policy's hash, keys and trusted root included
	DB     string // the vulnerability database's revision
}

// unmatched is the entry of a repository no trust-policy entry covers.
const unmatched = 0

func cacheKey(q question) string {
	h := sha256.Sum256(fmt.Appendf(nil, "v2\n%s\n%s\n%d\n%d\n%s\n%s", q.Repo, q.Digest, q.Entry, q.Rule, q.Policy, q.DB))
	return hex.EncodeToString(h[:16])
}

// resolve finds the digest a reference names, from a short-lived cache of
// tags.
func (s *Server) resolve(ctx context.Context, ref name.Reference, ro []remote.Option) (string, error) {
	if dg, ok := ref.(name.Digest); ok {
		return dg.DigestStr(), nil
	}
	k := ref.String()
	if dg, ok := s.tags.get(k, s.now()); ok {
		return dg, nil
	}
	desc, err := remote.Head(ref, ro...)
	if err != nil {
		// Some registries answer no HEAD; GET also says better what is wrong.
		d, err := remote.Get(ref, ro...)
		if err != nil {
			return "", pull.Classify(ref.String(), "resolving", err)
		}
		desc = &d.Descriptor
	}
	dg := desc.Digest.String()
	s.tags.put(k, dg, s.now().Add(s.cfg.ResolveTTL))
	return dg, nil
}

// tagCache remembers what tags resolved to, briefly.
type tagCache struct {
	mu sync.Mutex
	m  map[string]tagEntry
}

type tagEntry struct {
	digest  string
	expires time.Time
}

func (c *tagCache) get(ref string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[ref]
	if !ok || !now.Before(e.expires) {
		return "", false
	}
	return e.digest, true
}

func (c *tagCache) put(ref, digest string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]tagEntry{}
	}
	c.m[ref] = tagEntry{digest, expires}
}

var (
	credentialsInURL = regexp.MustCompile(`://[^/@\s]*@`)
	digestSuffix     = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
)

// redactCredentials hides credentials in an image reference, in every
// form: after a URL scheme (https://user:pw@host/repo) and before the host
// (user:pw@host/repo, user@host). A reference's only other "@" is the one
// before its digest, and no registry host holds one.
func redactCredentials(s string) string {
	s = credentialsInURL.ReplaceAllString(s, "://REDACTED@")
	if strings.Contains(s, "://") {
		return s
	}
	host, rest, slash := strings.Cut(s, "/")
	at := strings.LastIndex(host, "@")
	switch {
	case at < 0:
		return s
	case slash:
		return "REDACTED@" + host[at+1:] + "/" + rest
	case digestSuffix.MatchString(host[at+1:]):
		return s // repo@sha256:…
	}
	return "REDACTED@" + host[at+1:]
}
