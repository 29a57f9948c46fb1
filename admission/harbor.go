package admission

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/verify"
)

// The media types of Harbor's Pluggable Scanner API (v1.2, and v1.1's).
const (
	harborMetadataType  = "application/vnd.scanner.adapter.metadata+json; version=1.1"
	harborScanRespType  = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	harborErrorType     = "application/vnd.scanner.adapter.error+json; version=1.0"
	harborVulnReport11  = "application/vnd.security.vulnerability.report; version=1.1"
	harborVulnReport10  = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
	harborRawReport     = "application/vnd.scanner.adapter.vuln.report.raw"
	harborSBOMReport    = "application/vnd.security.sbom.report+json; version=1.0"
	harborSPDX          = "application/spdx+json"
	harborCycloneDX     = "application/vnd.cyclonedx+json"
	ociManifestType     = "application/vnd.oci.image.manifest.v1+json"
	dockerManifestType  = "application/vnd.docker.distribution.manifest.v2+json"
	harborRefreshAfter  = "2"
	harborJobTTL        = time.Hour
	maxHarborScanSize   = 64 << 10
	harborScannerVendor = "customs"
)

var harborConsumes = []string{ociManifestType, dockerManifestType}

// HarborScanRequest is the body of POST /api/v1/scan.
type HarborScanRequest struct {
	Registry struct {
		URL string `json:"url"`
		// Authorization is the registry's Authorization header for this
		// pull: used for it only, never logged or stored.
		Authorization string `json:"authorization,omitempty"`
	} `json:"registry"`
	Artifact            harborArtifact `json:"artifact"`
	EnabledCapabilities []struct {
		Type string `json:"type"`
	} `json:"enabled_capabilities,omitempty"`
}

type harborArtifact struct {
	Repository string `json:"repository,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Tag        string `json:"tag,omitempty"`
	MimeType   string `json:"mime_type,omitempty"`
}

type harborScanner struct {
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	Version string `json:"version"`
}

// harborJob is one scan request: running until done is closed, then a
// result or an error.
type harborJob struct {
	artifact harborArtifact
	done     chan struct{}
	// mu guards res, which a database reload replaces.
	mu    sync.Mutex
	res   *result.Result
	sboms map[string][]byte // by media type
	err   error
	ended time.Time
}

// harborJobs keeps the scan jobs of this process, each for an hour after
// it ends.
type harborJobs struct {
	mu   sync.Mutex
	jobs map[string]*harborJob
	// byArtifact are the jobs by artifact and credentials (artifactKey).
	byArtifact map[string]string
}

// add keeps a new job, or returns the id of the job of the same artifact
// and credentials that is running or succeeded within the hour.
func (h *harborJobs) add(id, key string, j *harborJob, now time.Time) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.jobs == nil {
		h.jobs, h.byArtifact = map[string]*harborJob{}, map[string]string{}
	}
	for k, old := range h.jobs {
		old.mu.Lock()
		expired := !old.ended.IsZero() && now.Sub(old.ended) > harborJobTTL
		old.mu.Unlock()
		if expired {
			delete(h.jobs, k)
		}
	}
	if prev, ok := h.jobs[h.byArtifact[key]]; ok {
		prev.mu.Lock()
		failed := prev.err != nil
		prev.mu.Unlock()
		if !failed {
			return h.byArtifact[key]
		}
	}
	h.jobs[id], h.byArtifact[key] = j, id
	return id
}

func (h *harborJobs) get(id string) *harborJob {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.jobs[id]
}

// harborError writes the API's error body.
func harborError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", harborErrorType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}

func harborJSON(w http.ResponseWriter, status int, mediaType string, v any) {
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) harborScanner() harborScanner {
	return harborScanner{Name: "customs", Vendor: harborScannerVendor, Version: s.cfg.SBOM.ToolVersion}
}

// serveHarborMetadata names the scanner, its database and what it
// consumes and produces.
func (s *Server) serveHarborMetadata(w http.ResponseWriter, r *http.Request) {
	props := map[string]string{"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"}
	if st := s.state.Load(); st != nil && st.dbRevision != "" {
		props["customs/database-revision"] = st.dbRevision
		if !st.dbNewest.IsZero() {
			props["harbor.scanner-adapter/vulnerability-database-updated-at"] = st.dbNewest.UTC().Format(time.RFC3339)
		}
	}
	harborJSON(w, http.StatusOK, harborMetadataType, map[string]any{
		"scanner": s.harborScanner(),
		"capabilities": []map[string]any{
			{"type": "vulnerability", "consumes_mime_types": harborConsumes, "produces_mime_types": []string{harborVulnReport11, harborVulnReport10, harborRawReport}},
			{"type": "sbom", "consumes_mime_types": harborConsumes, "produces_mime_types": []string{harborSBOMReport},
				"additional_attributes": map[string]any{"sbom_media_types": []string{harborSPDX, harborCycloneDX}}},
		},
		"properties": props,
	})
}

var (
	digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	jobIDPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// serveHarborScan accepts a scan request and starts the job.
func (s *Server) serveHarborScan(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHarborScanSize))
	if err != nil {
		harborError(w, http.StatusBadRequest, "the body is not a scan request: "+err.Error())
		return
	}
	req, u, status, msg := parseHarborScan(body)
	if status != 0 {
		harborError(w, status, msg)
		return
	}
	if s.shared != nil {
		id, err := s.shared.submit(r.Context(), u, req.Registry.Authorization, req.Artifact)
		if err != nil {
			harborError(w, http.StatusInternalServerError, "the shared job queue (Redis) did not take the job: "+err.Error())
			return
		}
		harborJSON(w, http.StatusAccepted, harborScanRespType, map[string]string{"id": id})
		return
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	job := &harborJob{artifact: req.Artifact, done: make(chan struct{})}
	if got := s.harbor.add(id, artifactKey(u, req.Registry.Authorization, req.Artifact), job, s.now()); got != id {
		// The same artifact with the same credentials: one scan.
		harborJSON(w, http.StatusAccepted, harborScanRespType, map[string]string{"id": got})
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(job.done)
		res, sboms, err := s.harborRun(u, req.Registry.Authorization, req.Artifact)
		job.mu.Lock()
		job.res, job.sboms, job.err, job.ended = res, sboms, err, s.now()
		job.mu.Unlock()
		s.keepReport(id, req.Artifact, u, res, sboms, err)
	}()
	harborJSON(w, http.StatusAccepted, harborScanRespType, map[string]string{"id": id})
}

// parseHarborScan reads and checks a scan request: the status and message
// of the error to answer, or 0.
func parseHarborScan(body []byte) (*HarborScanRequest, *url.URL, int, string) {
	var req HarborScanRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, http.StatusBadRequest, "the body is not a scan request: " + err.Error()
	}
	u, err := url.Parse(req.Registry.URL)
	switch {
	case req.Registry.URL == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil:
		return nil, nil, http.StatusUnprocessableEntity, "registry.url must be the registry's base URL (https://HOST[:PORT])"
	case req.Artifact.Repository == "":
		return nil, nil, http.StatusUnprocessableEntity, "artifact.repository is missing"
	case !digestPattern.MatchString(req.Artifact.Digest):
		return nil, nil, http.StatusUnprocessableEntity, "artifact.digest must be sha256:<64 hex digits>"
	case req.Artifact.MimeType != "" && !slices.Contains(harborConsumes, req.Artifact.MimeType):
		return nil, nil, http.StatusNotImplemented, fmt.Sprintf("customs scans image manifests (%s), not %s", strings.Join(harborConsumes, ", "), req.Artifact.MimeType)
	}
	for _, c := range req.EnabledCapabilities {
		if c.Type != "vulnerability" && c.Type != "sbom" {
			return nil, nil, http.StatusNotImplemented, fmt.Sprintf("customs has no capability %q (it has vulnerability and sbom)", c.Type)
		}
	}
	if _, err := name.ParseReference(u.Host+"/"+req.Artifact.Repository+"@"+req.Artifact.Digest, name.StrictValidation); err != nil {
		return nil, nil, http.StatusUnprocessableEntity, "artifact.repository is not a repository name: " + err.Error()
	}
	return &req, u, 0, ""
}

// harborKeychain authenticates to one registry with the Authorization
// header Harbor handed over; elsewhere, or without one (a job taken over
// from a replica that died with the credentials), with the server's own
// keychain (its Docker config: a robot account).
type harborKeychain struct {
	host, authorization string
	fallback            authn.Keychain
}

func (k harborKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if res.RegistryStr() != k.host || k.authorization == "" {
		if k.fallback != nil {
			return k.fallback.Resolve(res)
		}
		return authn.Anonymous, nil
	}
	scheme, value, _ := strings.Cut(k.authorization, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		return authn.FromConfig(authn.AuthConfig{Auth: value}), nil
	case "bearer":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: value}), nil
	}
	return nil, errors.New("registry.authorization must be Basic or Bearer")
}

// harborRun scans the artifact with the request's credentials, and
// renders its SBOM in both formats Harbor asks for.
func (s *Server) harborRun(u *url.URL, authorization string, a harborArtifact) (*result.Result, map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(s.base, s.cfg.ScanTimeout)
	defer cancel()
	release, err := s.scanSlot(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	sc := *s.scanner
	sc.Pull.Keychain = harborKeychain{host: u.Host, authorization: authorization, fallback: sc.Pull.Keychain}
	if u.Scheme == "http" {
		sc.Pull.InsecureRegistries = append(slices.Clip(sc.Pull.InsecureRegistries), u.Host)
	}
	ref := u.Host + "/" + a.Repository + "@" + a.Digest
	req := scan.Request{Policy: scan.DefaultPolicy(), Posture: true, NeedSBOM: true}
	if st := s.state.Load(); st != nil && st.policy != nil {
		// The admission rule for the repository: its thresholds, and its
		// capabilities declaration held against the executables.
		rule, _ := st.policy.RuleFor(u.Host+"/"+a.Repository, "")
		req.Policy, req.Capabilities = rule.ScanPolicy(), rule.Declaration()
	}
	req.Policy.AllowUnscanned = true
	target := pull.Target{Kind: pull.Registry, Ref: ref, Input: ref}
	res, err := sc.Scan(ctx, target, req)
	var perr *scan.PolicyError
	if err != nil && !errors.As(err, &perr) {
		s.logger.Warn("harbor scan failed", "image", ref, "error", err)
		return nil, nil, fmt.Errorf("scanning %s: %s", ref, reason(err))
	}
	// The trust policy's verdict on the image, beside its findings: a
	// failed verification does not hide what the image holds.
	res.Verification = s.harborVerify(ctx, target, sc.Pull)
	sboms := map[string][]byte{}
	if res.SBOM != nil {
		for mt, format := range map[string]string{harborCycloneDX: "cyclonedx-json", harborSPDX: "spdx-json"} {
			var buf bytes.Buffer
			if err := sbom.Encode(&buf, res.SBOM, format); err != nil {
				return nil, nil, fmt.Errorf("writing the SBOM of %s: %w", ref, err)
			}
			sboms[mt] = buf.Bytes()
		}
	}
	s.logger.Info("harbor scan done", "image", ref, "findings", len(res.Findings))
	return res, sboms, nil
}

// serveHarborReport answers a poll: 302 while the scan runs, the report
// asked for by Accept when it is done, 500 when it failed.
func (s *Server) serveHarborReport(w http.ResponseWriter, r *http.Request) {
	job := s.harbor.get(r.PathValue("id"))
	var kept *sharedJob
	if job == nil && s.shared == nil {
		// A report this process made before it restarted.
		if kept = s.keptReport(r.PathValue("id")); kept == nil {
			harborError(w, http.StatusNotFound, "no scan request with this id (reports are kept for an hour)")
			return
		}
	}
	accept := r.Header.Get("Accept")
	if accept == "" || accept == "*/*" {
		accept = harborVulnReport11
	}
	sbomType := r.URL.Query().Get("sbom_media_type")
	switch {
	case accept == harborSBOMReport && sbomType != harborSPDX && sbomType != harborCycloneDX:
		harborError(w, http.StatusBadRequest, fmt.Sprintf("an SBOM report needs sbom_media_type=%s or %s", harborSPDX, harborCycloneDX))
		return
	case accept != harborSBOMReport && accept != harborVulnReport11 && accept != harborVulnReport10 && accept != harborRawReport:
		harborError(w, http.StatusNotImplemented, "customs produces "+strings.Join([]string{harborVulnReport11, harborVulnReport10, harborRawReport, harborSBOMReport}, ", "))
		return
	}
	if s.shared != nil || kept != nil {
		s.serveSharedReport(w, r, accept, sbomType, kept)
		return
	}
	select {
	case <-job.done:
	default:
		w.Header().Set("Refresh-After", harborRefreshAfter)
		w.WriteHeader(http.StatusFound)
		return
	}
	job.mu.Lock()
	res := job.res
	job.mu.Unlock()
	if job.err != nil {
		harborError(w, http.StatusInternalServerError, job.err.Error())
		return
	}
	switch accept {
	case harborSBOMReport:
		var doc map[string]any
		if err := json.Unmarshal(job.sboms[sbomType], &doc); err != nil {
			harborError(w, http.StatusInternalServerError, "the SBOM did not render: "+err.Error())
			return
		}
		harborJSON(w, http.StatusOK, harborSBOMReport, map[string]any{
			"generated_at": job.ended.UTC().Format(time.RFC3339), "artifact": job.artifact, "scanner": s.harborScanner(),
			"media_type": sbomType, "sbom": doc,
		})
	case harborRawReport:
		harborJSON(w, http.StatusOK, harborRawReport, res)
	default:
		harborJSON(w, http.StatusOK, accept, harborVulnerabilityReport(res, job.artifact, s.harborScanner(), job.ended))
	}
}

// rematchResult matches the packages of a Harbor scan's result against
// the database again, keeping what does not depend on it (the posture
// checks, the SBOM).
func (s *Server) rematchResult(ctx context.Context, old *result.Result, now time.Time) (*result.Result, error) {
	sp := scan.DefaultPolicy()
	sp.AllowUnscanned = true
	res, err := s.scanner.Rematch(ctx, imageArtifact(old.Target.Reference, old.Target.Digest), inventoried(old), scan.Request{Policy: sp}, now)
	var perr *scan.PolicyError
	if err != nil && !errors.As(err, &perr) {
		return nil, err
	}
	res.Posture, res.SBOM = old.Posture, old.SBOM
	return res, nil
}

// rematchHarbor matches the packages of every finished Harbor report
// against the database again, so that a report polled after a reload
// reflects the new revision.
func (s *Server) rematchHarbor(ctx context.Context, now time.Time) {
	s.harbor.mu.Lock()
	jobs := make([]*harborJob, 0, len(s.harbor.jobs))
	for _, j := range s.harbor.jobs {
		jobs = append(jobs, j)
	}
	s.harbor.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.done:
		default:
			continue
		}
		j.mu.Lock()
		old := j.res
		j.mu.Unlock()
		if old == nil {
			continue
		}
		res, err := s.rematchResult(ctx, old, now)
		if err != nil {
			s.logger.Warn("could not match a Harbor report again", "image", old.Target.Reference, "error", err)
			continue
		}
		j.mu.Lock()
		j.res = res
		j.mu.Unlock()
	}
}

// serveSharedReport answers a poll from the job's record: in Redis,
// whichever replica ran it, or kept on disk by this process.
func (s *Server) serveSharedReport(w http.ResponseWriter, r *http.Request, accept, sbomType string, j *sharedJob) {
	var err error
	if j == nil {
		j, err = s.shared.get(r.Context(), r.PathValue("id"))
	}
	switch {
	case err != nil:
		harborError(w, http.StatusInternalServerError, "the shared job queue (Redis) did not answer: "+err.Error())
		return
	case j == nil:
		harborError(w, http.StatusNotFound, "no scan request with this id (reports are kept for an hour)")
		return
	case j.State == "queued" || j.State == "running":
		w.Header().Set("Refresh-After", harborRefreshAfter)
		w.WriteHeader(http.StatusFound)
		return
	case j.State == "failed":
		harborError(w, http.StatusInternalServerError, j.Error)
		return
	}
	switch accept {
	case harborSBOMReport:
		harborJSON(w, http.StatusOK, harborSBOMReport, map[string]any{
			"generated_at": s.now().UTC().Format(time.RFC3339), "artifact": j.Artifact, "scanner": s.harborScanner(),
			"media_type": sbomType, "sbom": j.SBOMs[sbomType],
		})
	case harborRawReport:
		w.Header().Set("Content-Type", harborRawReport)
		w.Write(j.Raw)
	default:
		w.Header().Set("Content-Type", accept)
		w.Write(j.Report)
	}
}

// harborVerify verifies an image against the trust policy, as admission
// does, for the report: passed, or failed with the check that failed;
// nil when it could not be asked.
func (s *Server) harborVerify(ctx context.Context, t pull.Target, po pull.Options) *result.Verification {
	st := s.state.Load()
	if st == nil || st.policy == nil {
		return nil
	}
	ref, ro, err := pull.Remote(ctx, t, po)
	if err != nil {
		return nil
	}
	pr, err := st.policy.Policy.Verify(ctx, ref, ro)
	var ce *verify.CheckError
	switch {
	case errors.As(err, &ce) && pr != nil:
		return &result.Verification{PolicyResult: *pr, Check: ce.Check, Error: err.Error()}
	case err == nil && pr != nil:
		return &result.Verification{PolicyResult: *pr, Passed: true}
	}
	return nil
}

// harborReportKind is the cache kind of the reports a process without
// Redis keeps on disk, so that they outlive a restart (for an hour).
const harborReportKind = "harbor-report-1"

// keptJob is a finished job's record on disk.
type keptJob struct {
	Ended time.Time  `json:"ended"`
	Job   *sharedJob `json:"job"`
}

func (s *Server) keepReport(id string, a harborArtifact, u *url.URL, res *result.Result, sboms map[string][]byte, runErr error) {
	if s.cfg.Pull.Cache == nil {
		return
	}
	cas.Keep(s.cfg.Pull.Cache, harborReportKind, id, keptJob{Ended: s.now(), Job: s.finishedJob(a, u, res, sboms, runErr)})
}

// finishedJob is a finished scan's record, kept on disk or in Redis: its
// reports rendered, or why it failed.
func (s *Server) finishedJob(a harborArtifact, u *url.URL, res *result.Result, sboms map[string][]byte, runErr error) *sharedJob {
	j := &sharedJob{State: "done", Artifact: a, Registry: u.String()}
	if runErr != nil {
		j.State, j.Error = "failed", runErr.Error()
		return j
	}
	j.Report, _ = json.Marshal(harborVulnerabilityReport(res, a, s.harborScanner(), s.now()))
	j.Raw, _ = json.Marshal(res)
	j.SBOMs = map[string]json.RawMessage{}
	for mt, b := range sboms {
		j.SBOMs[mt] = b
	}
	return j
}

func (s *Server) keptReport(id string) *sharedJob {
	if s.cfg.Pull.Cache == nil || !jobIDPattern.MatchString(id) {
		return nil
	}
	k, ok := cas.Lookup[keptJob](s.cfg.Pull.Cache, harborReportKind, id)
	if !ok || k.Job == nil || s.now().Sub(k.Ended) > harborJobTTL {
		return nil
	}
	return k.Job
}
