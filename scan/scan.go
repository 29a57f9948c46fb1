package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	syftsbom "github.com/anchore/syft/syft/sbom"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/hint"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/verify"
	"github.com/customs-dev/customs/vuln"
	"github.com/customs-dev/customs/vuln/reach"
)

// Scanner is what the scans of a process share: the cache, how targets
// are fetched and SBOMs made, the vulnerability database, the clock and
// the logger. A front end builds one and scans every target with it.
type Scanner struct {
	// Cache keeps pulled blobs and what scans derive from them (SBOMs and
	// their inventories, posture reports, capability analyses, database
	// indexes); nil keeps them for one fetch only. It is the cache of the
	// pull and SBOM stages, whatever their options say.
	Cache *cas.Store
	// Pull is how targets are fetched: registries, credentials, limits,
	// progress.
	Pull pull.Options
	// SBOM is how SBOMs are made.
	SBOM sbom.Options
	// DB is the vulnerability database directory; MaxRecordSize bounds
	// one of its records (0 is vuln.DefaultMaxRecordSize).
	DB            string
	MaxRecordSize int64
	// Now is the clock (ignore expiry, database age); nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Spell words a setting that would change a verdict ("allow-unscanned")
	// as the front end's users write it: a flag on the command line, a key
	// of the admission policy. nil leaves it as it is.
	Spell func(setting string) string
}

// Request is what one scan holds its target against.
type Request struct {
	// Policy is what the result is held against.
	Policy Policy
	// NeedSBOM keeps the whole SBOM in the result (for CycloneDX output);
	// otherwise a warm scan reads only the packages it matches.
	NeedSBOM bool
	// Trust, when set, is the trust policy a registry image must satisfy
	// before it is scanned; the digest it verified is the one scanned.
	Trust *verify.Policy
	// Capabilities, when set, is the declaration Go source (a dir: or
	// gomod: target) is held against; otherwise the target's own
	// capabilities.txt, if it has one.
	Capabilities *capabilities.File
	// CapabilitiesBuild is how the Go code is built for the analysis
	// (GOOS, GOARCH, tags).
	CapabilitiesBuild capabilities.Options
	// Baseline, when set, is a report of the same target before the change
	// (the base branch): findings it had, or of packages it had at the
	// same version, are existing, and only new ones count against the
	// gate unless FailOnExisting. Capabilities gained since it fail, even
	// when capabilities.txt grants them in the same change, unless
	// AllowDeclaredChanges.
	Baseline             *result.Result
	FailOnExisting       bool
	AllowDeclaredChanges bool
	// Posture checks how an image is built (its user, files and
	// secrets); the policy's posture requirements say which findings fail.
	Posture bool
}

// PolicyError is returned with a result that fails the policy: the CLI
// exits 1 for it, and 2 for every other error.
type PolicyError struct {
	Reasons []string
}

func (e *PolicyError) Error() string {
	return "the policy failed: " + strings.Join(e.Reasons, "; ")
}

// PolicyFailure marks the error as "the policy said no".
func (e *PolicyError) PolicyFailure() bool { return true }

// job is one scan: the Scanner it runs on, what it was asked, and when it
// started.
type job struct {
	*Scanner
	Request
	start time.Time
	// image is the image the SBOM read, for the stages after it: asking
	// the artifact again would fetch and verify it again.
	image v1.Image
	// exec are the Go executables read alongside the SBOM, when it read
	// the image.
	exec *executables
	// db is the vulnerability database, opened before the target is read
	// so that indexes can be read while the SBOM is made; nil when that
	// failed (evaluate opens it again and reports why).
	db *vuln.DB
	// dirBins are a directory's executables, read while matching.
	dirBins map[string]*reach.Binary
	// prog is the Go source loaded once (program), progErr why it could
	// not be.
	progOnce sync.Once
	prog     *capabilities.Program
	progErr  error
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// spell words a setting for the front end.
func (s *Scanner) spell(setting string) string {
	if s.Spell == nil {
		return hint.Plain(setting)
	}
	return s.Spell(setting)
}

// pullOptions and sbomOptions are the stages' options with the Scanner's
// cache and logger.
func (s *Scanner) pullOptions() pull.Options {
	o := s.Pull
	o.Cache = s.Cache
	if s.Logger != nil {
		o.Logger = s.Logger
	}
	return o
}

func (s *Scanner) sbomOptions(forMatching bool) sbom.Options {
	o := s.SBOM
	o.Cache, o.ForMatching = s.Cache, forMatching
	if s.Logger != nil {
		o.Logger = s.Logger
	}
	return o
}

// Scan scans a target. It returns the result and, when the policy fails,
// a *PolicyError alongside it.
func (s *Scanner) Scan(ctx context.Context, t pull.Target, req Request) (res *result.Result, err error) {
	j := &job{Scanner: s, Request: req, start: s.now()}
	defer func() {
		if res != nil {
			res.Duration = math.Round(s.now().Sub(j.start).Seconds()*1000) / 1000
		}
	}()
	var ver *result.Verification
	// The reference the image was asked for by, before verification pins
	// it to a digest: the posture checks report a moving tag.
	ref := ""
	if t.Kind == pull.Registry {
		ref = t.Ref
	}
	if req.Trust != nil {
		var failed *result.Result
		t, ver, failed, err = j.verifyFirst(ctx, t)
		if failed != nil || err != nil {
			return failed, err
		}
		// The trust policy's entry for the image may require posture rules.
		if e := req.Trust.For(imageRepo(t.Ref)); e != nil && len(e.Posture) > 0 {
			j.Policy.Posture = append(append([]PostureRequirement(nil), req.Policy.Posture...),
				PostureRequirement{Require: e.Posture, Source: fmt.Sprintf("%s:%d", req.Trust.Source, e.Line)})
		}
	}
	// Unless the SBOM's inventory is cached, syft's configuration is needed
	// next: it is made while the target is fetched and its key computed.
	sbom.Prepare()
	j.step("opening the vulnerability database")
	j.db, _ = j.openDB()
	j.done("opening the vulnerability database")
	art, err := pull.Fetch(ctx, t, s.pullOptions())
	if err != nil {
		return nil, err
	}
	defer art.Close()
	// Go source's call graph is built while its SBOM is made.
	defer j.prefetchSource(ctx, art)()
	pos := j.newPostureRun(art, ref)
	// The posture checks read the layers the SBOM reads.
	// So does reachability, unless it is off.
	art.WrapImage(func(img v1.Image) v1.Image {
		j.image = img
		if req.Policy.Reachability != ReachOff {
			j.exec = newExecutables()
			if j.db != nil {
				// Go's index, the largest a cold database builds for a
				// Go program, is read while the rest of the image is.
				j.exec.onGo = func() { j.db.Prefetch("Go") }
			}
			img = j.exec.wrap(img)
		}
		return pos.wrap(img)
	})
	inv, err := j.inventory(ctx, art)
	if err != nil {
		return nil, err
	}
	rep, err := pos.report(ctx, art)
	if err != nil {
		return nil, err
	}
	res, err = j.evaluate(ctx, art, inv, rep)
	if res != nil {
		res.Verification = ver
	}
	return res, err
}

// inventoryKind is the cache kind of inventories; it names their format.
const inventoryKind = "scan-packages-2"

// inventory is what matching needs of an SBOM.
type inventory struct {
	Total     int              `json:"total"`
	Packages  []vuln.Package   `json:"packages"`
	Unscanned []vuln.Unscanned `json:"unscanned"`
	sbom      *syftsbom.SBOM
}

func newInventory(s *syftsbom.SBOM) inventory {
	pkgs, unscanned := vuln.Packages(s)
	return inventory{Total: s.Artifacts.Packages.PackageCount(), Packages: pkgs, Unscanned: unscanned, sbom: s}
}

// inventory makes the target's SBOM and what matching needs of it. The
// latter is cached beside the SBOM, so that a warm scan does not decode
// the whole SBOM unless a report needs it; unless one does, the SBOM made
// is the lighter one matching needs.
func (j *job) inventory(ctx context.Context, art *pull.Artifact) (inventory, error) {
	sopts := j.sbomOptions(!j.NeedSBOM)
	sopts.Key = sbom.CacheKey(art, sopts)
	generate := func() (inventory, error) {
		s, err := sbom.Generate(ctx, art, sopts)
		if err != nil {
			return inventory{}, fmt.Errorf("making the SBOM of %s: %w", art.Target, err)
		}
		return newInventory(s), nil
	}
	if j.NeedSBOM {
		// A whole SBOM's inventory is never read back: a scan that reads
		// one asks for the lighter SBOM, under another key.
		return generate()
	}
	return cas.Memo(j.Cache, inventoryKind, sopts.Key, generate)
}

// Rematch matches the packages an earlier scan of the artifact inventoried
// against the database again and applies the policy, without reading the
// artifact: what a new revision of the data makes of an image scanned
// before. An image's reachability is graded from the executables' functions
// the earlier scan cached (a finding whose executable is not there is
// unknown).
func (s *Scanner) Rematch(ctx context.Context, art *pull.Artifact, pkgs []vuln.Package, req Request, now time.Time) (*result.Result, error) {
	j := &job{Scanner: s, Request: req, start: now}
	return j.evaluate(ctx, art, inventory{Total: len(pkgs), Packages: pkgs}, nil)
}

// Evaluate matches an SBOM against the database and applies the policy,
// as a scan that started at now.
func (s *Scanner) Evaluate(ctx context.Context, art *pull.Artifact, sb *syftsbom.SBOM, req Request, now time.Time) (*result.Result, error) {
	j := &job{Scanner: s, Request: req, start: now}
	return j.evaluate(ctx, art, newInventory(sb), nil)
}

// verifyFirst holds a registry image against the trust policy. On success
// it returns the target by the digest that verified, which is what is then
// scanned; on a failed check, a result that says so and the PolicyError.
func (j *job) verifyFirst(ctx context.Context, t pull.Target) (pull.Target, *result.Verification, *result.Result, error) {
	ref, ro, err := pull.Remote(ctx, t, j.pullOptions())
	if err != nil {
		return t, nil, nil, err
	}
	pr, err := j.Trust.Verify(ctx, ref, ro)
	var ce *verify.CheckError
	switch {
	case errors.As(err, &ce) && pr != nil:
		v := &result.Verification{PolicyResult: *pr, Check: ce.Check, Error: err.Error()}
		reason := "signature verification failed: " + err.Error()
		r := &result.Result{
			SchemaVersion: result.SchemaVersion,
			Tool:          result.Tool{Name: "customs", Version: j.SBOM.ToolVersion},
			Time:          j.start.UTC().Truncate(time.Second),
			Target:        result.Target{Input: t.Input, Kind: t.Kind.String(), Reference: pr.Reference, Digest: pr.Digest},
			Packages:      result.Packages{ByEcosystem: map[string]int{}},
			Database:      result.Database{Dir: j.DB, Ecosystems: []string{}},
			Findings:      []result.Finding{},
			Gate:          result.Gate{FailOn: j.Policy.FailOn.String(), UnknownSeverity: unknownSeverity(j.Policy), Reasons: []string{reason}},
			Verification:  v,
		}
		return t, v, r, &PolicyError{Reasons: r.Gate.Reasons}
	case err != nil:
		return t, nil, nil, err
	}
	t.Ref = pr.Reference
	return t, &result.Verification{PolicyResult: *pr, Passed: true}, nil, nil
}
