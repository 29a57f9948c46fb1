package admission

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/sbom"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/vuln"
)

// Config configures a Server.
type Config struct {
	// PolicyFile is the policy; it is reloaded when it changes.
	PolicyFile string
	// PreparePolicy, when set, completes a freshly loaded policy (for
	// example with the trusted root TUF provides).
	PreparePolicy func(*Policy) error
	// DB is the vulnerability database directory; reloaded when it changes.
	DB   string
	Pull pull.Options
	SBOM sbom.Options
	// Store is where decisions are kept beyond memory (bbolt, Redis); nil
	// keeps them in memory only.
	Store Store
	// Budget is the time a request may take: below the API server's
	// webhook timeout (10 s by default).
	Budget time.Duration
	// ScanTimeout bounds a scan that outlives its request's budget.
	ScanTimeout time.Duration
	// MaxScans bounds the scans that run at once.
	MaxScans int
	// MaxReviewSize bounds an AdmissionReview body (0 is 7 MiB).
	MaxReviewSize int64
	// DecisionTTL is how long a decision is reused; ResolveTTL how long a
	// tag's digest is.
	DecisionTTL, ResolveTTL time.Duration
	// ReloadInterval is how often the policy and database are checked for
	// changes.
	ReloadInterval time.Duration
	// HarborVisibility is how long a Harbor job may look idle in the
	// shared queue before another replica takes it over (0: the default,
	// half a minute).
	HarborVisibility time.Duration
	// RescanWindow is how far back the images decided are re-decided,
	// from their inventories, when the database changes (0 is 7 days;
	// negative, never).
	RescanWindow time.Duration
	// ProbeInterval is how often the decision store (Redis, bbolt) is
	// asked whether it answers, so that /readyz and
	// customs_admission_cache_store_up follow it between requests.
	ProbeInterval time.Duration
	// Token, when set, is a bearer token that authenticates API callers.
	Token string
	// ClientCAs, when set, authenticate callers by client certificate.
	ClientCAs *x509.CertPool
	Logger    *slog.Logger
	Now       func() time.Time
}

func (c *Config) defaults() {
	if c.Budget == 0 {
		c.Budget = 8 * time.Second
	}
	if c.ScanTimeout == 0 {
		c.ScanTimeout = 5 * time.Minute
	}
	if c.MaxScans == 0 {
		c.MaxScans = 2
	}
	if c.MaxReviewSize <= 0 {
		c.MaxReviewSize = defaultMaxReviewSize
	}
	if c.DecisionTTL == 0 {
		c.DecisionTTL = time.Hour
	}
	if c.ResolveTTL == 0 {
		c.ResolveTTL = 30 * time.Second
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = 5 * time.Second
	}
	if c.HarborVisibility == 0 {
		c.HarborVisibility = 30 * time.Second
	}
	if c.RescanWindow == 0 {
		c.RescanWindow = 7 * 24 * time.Hour
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// state is what the server decides with; it is replaced whole on reload.
type state struct {
	policy      *Policy
	policyStamp string
	dbRevision  string
	dbStamp     string
	// dbNewest is the newest record's time in the database.
	dbNewest time.Time
}

// Server decides whether images may run: the admission webhook and the
// HTTP check API.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	cache   *tiered
	flight  singleflight.Group
	tags    tagCache
	// scanner scans every image the server decides on.
	scanner *scan.Scanner
	state   atomic.Pointer[state]
	now     func() time.Time

	scanSlots chan struct{}
	base      context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	reloadMu  sync.Mutex

	// harbor keeps the jobs of Harbor's scanner API.
	harbor harborJobs
	// seen are the images decided, for the next database reload.
	seen seenImages
	// shared keeps the Harbor jobs in Redis when the decision cache is
	// there: the replicas share them.
	shared *harborShared

	// decider is Decide; review tests replace it.
	decider func(ctx context.Context, image, namespace string) *Decision
}

// New loads the policy and the database and returns a server. It fails
// when the policy does not load; a database that does not open leaves the
// server not ready until it does.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	s := &Server{cfg: cfg, logger: cfg.Logger, metrics: newMetrics(), now: cfg.Now, scanSlots: make(chan struct{}, cfg.MaxScans)}
	s.cache = &tiered{mem: newMemoryStore(100000, cfg.Now), next: cfg.Store, logger: cfg.Logger, metrics: s.metrics}
	s.base, s.stop = context.WithCancel(context.Background())
	s.decider = s.Decide
	// The content cache is shared by digest; the registry must still say
	// that a repository holds the digest it is asked for.
	po := cfg.Pull
	po.ConfirmDigests = true
	s.scanner = &scan.Scanner{Cache: po.Cache, Pull: po, SBOM: cfg.SBOM, DB: cfg.DB, Now: cfg.Now, Logger: cfg.Logger, Spell: spell}
	if err := s.reload(true); err != nil {
		s.stop()
		return nil, err
	}
	// The policy and database are read again when they change; the
	// decision store is asked whether it answers, each probe bounded by
	// the store's timeout, so that /readyz and the metric follow it
	// between requests.
	s.every(cfg.ReloadInterval, func() { s.reload(false) })
	if rs, ok := cfg.Store.(*redisStore); ok {
		s.shared = newHarborShared(rs.client, cfg.HarborVisibility)
		s.wg.Add(1)
		go s.work(s.shared)
	}
	if cfg.Store != nil {
		s.cache.probe(s.base)
		s.every(cfg.ProbeInterval, func() { s.cache.probe(s.base) })
	}
	return s, nil
}

// every runs f every interval in the background until the server closes.
func (s *Server) every(interval time.Duration, f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.base.Done():
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// Close stops the server's background work (reloads, scans that outlived
// their requests) and waits for it.
func (s *Server) Close() error {
	s.stop()
	s.wg.Wait()
	return s.cache.Close()
}

// reload reads the policy and the database again when they changed. A
// policy or database that does not load is refused and the old one kept.
func (s *Server) reload(first bool) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.state.Load()
	next := &state{}
	if old != nil {
		*next = *old
	}
	changed := false
	if stamp := fileStamp(s.cfg.PolicyFile); old == nil || stamp != old.policyStamp {
		p, err := LoadPolicy(s.cfg.PolicyFile)
		if err == nil && s.cfg.PreparePolicy != nil {
			err = s.cfg.PreparePolicy(p)
		}
		if err != nil {
			s.metrics.reloads.WithLabelValues("policy", "error").Inc()
			if first {
				return err
			}
			s.logger.Error("the new policy is refused; the previous one stays in force", "file", s.cfg.PolicyFile, "error", err)
			next.policyStamp = stamp // do not retry until it changes again
		} else {
			if !first {
				s.metrics.reloads.WithLabelValues("policy", "ok").Inc()
				s.logger.Info("policy reloaded", "file", s.cfg.PolicyFile, "hash", p.Hash)
			}
			next.policy, next.policyStamp = p, stamp
		}
		changed = true
	}
	if stamp := dbStamp(s.cfg.DB); old == nil || stamp != old.dbStamp {
		rev, newest, err := dbRevision(s.cfg.DB, s.cfg.Pull)
		next.dbStamp = stamp
		if err != nil {
			s.metrics.reloads.WithLabelValues("database", "error").Inc()
			s.logger.Error("the vulnerability database does not open", "dir", s.cfg.DB, "error", err)
		} else {
			if !first {
				s.metrics.reloads.WithLabelValues("database", "ok").Inc()
				s.logger.Info("vulnerability database reloaded", "dir", s.cfg.DB, "revision", rev)
			}
			next.dbRevision, next.dbNewest = rev, newest
			s.metrics.dbAge.Set(float64(newest.Unix()))
		}
		changed = true
	}
	if changed {
		s.state.Store(next)
	}
	if !first && old != nil && old.dbRevision != "" && next.dbRevision != "" && next.dbRevision != old.dbRevision {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.rescan(next)
		}()
	}
	return nil
}

// fileStamp changes when a file's content may have: Kubernetes replaces
// mounted ConfigMaps by swapping a symbolic link, so the link is followed.
func fileStamp(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
}

// dbStamp changes when `customs db update` swaps a zip in.
func dbStamp(dir string) string {
	var parts []string
	for _, base := range []string{dir, filepath.Join(dir, "osv-scanner"), filepath.Join(dir, "osv-scalibr")} {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			p := filepath.Join(base, e.Name())
			if e.IsDir() {
				p = filepath.Join(p, "all.zip")
			}
			parts = append(parts, p+" "+fileStamp(p))
		}
	}
	sort.Strings(parts)
	return fmt.Sprint(parts)
}

func dbRevision(dir string, po pull.Options) (string, time.Time, error) {
	db, err := vuln.Open(dir, vuln.Options{Cache: po.Cache})
	if err != nil {
		return "", time.Time{}, err
	}
	eco := db.Ecosystems()
	rev, err := db.Revision(eco)
	if err != nil {
		return "", time.Time{}, err
	}
	newest, _ := db.Newest(eco)
	return rev, newest, nil
}

// Ready reports whether the server can decide: a policy and a database
// are loaded.
func (s *Server) Ready() error {
	st := s.state.Load()
	switch {
	case st == nil || st.policy == nil:
		return errors.New("no policy loaded")
	case st.dbRevision == "":
		return fmt.Errorf("the vulnerability database in %s is not loaded (run `customs db update`)", s.cfg.DB)
	}
	return nil
}

// Handler serves the endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		msg := "ready\n"
		if s.cache.Degraded() {
			msg = "ready (the shared decision cache is unavailable: deciding from the local cache)\n"
		}
		io.WriteString(w, msg)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /validate", s.authenticated(s.timed("validate", s.serveReview(s.validate))))
	mux.Handle("POST /mutate", s.authenticated(s.timed("mutate", s.serveReview(s.mutate))))
	mux.Handle("POST /v1/check", s.authenticated(s.timed("check", http.HandlerFunc(s.serveCheck))))
	// Distribution's notifications: scan on push.
	mux.Handle("POST /v1/events/distribution", s.authenticated(http.HandlerFunc(s.serveDistributionEvents)))
	// Harbor's Pluggable Scanner API v1.2.
	mux.Handle("GET /api/v1/metadata", s.authenticated(http.HandlerFunc(s.serveHarborMetadata)))
	mux.Handle("POST /api/v1/scan", s.authenticated(http.HandlerFunc(s.serveHarborScan)))
	mux.Handle("GET /api/v1/scan/{id}/report", s.authenticated(http.HandlerFunc(s.serveHarborReport)))
	return secure(mux)
}

// secure sets the headers every answer carries.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", "default-src 'none'")
		hd.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// authenticated lets a request through when no authentication is
// configured, or when it has a verified client certificate or the token.
func (s *Server) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" && s.cfg.ClientCAs == nil {
			h.ServeHTTP(w, r)
			return
		}
		if s.cfg.ClientCAs != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			h.ServeHTTP(w, r)
			return
		}
		if s.cfg.Token != "" {
			const prefix = "Bearer "
			got := r.Header.Get("Authorization")
			if len(got) > len(prefix) && subtle.ConstantTimeCompare([]byte(got[len(prefix):]), []byte(s.cfg.Token)) == 1 && got[:len(prefix)] == prefix {
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="customs"`)
		http.Error(w, "unauthenticated: present a client certificate signed by a CA the server trusts for clients, or the bearer token", http.StatusUnauthorized)
	})
}

// timed bounds a request by the budget and records its latency.
func (s *Server) timed(endpoint string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Budget)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
		s.metrics.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serveReview(f func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionReview) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review, err := readReview(r, s.cfg.MaxReviewSize)
		if err != nil {
			s.logger.Warn("bad AdmissionReview", "error", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, f(r.Context(), review.Request))
	})
}

// CheckRequest is the body of POST /v1/check.
type CheckRequest struct {
	Image     string `json:"image"`
	Namespace string `json:"namespace,omitempty"`
}

const maxCheckSize = 64 << 10

func (s *Server) serveCheck(w http.ResponseWriter, r *http.Request) {
	var req CheckRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckSize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, `the body must be {"image": "REGISTRY/REPO:TAG"}: `+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Image == "" {
		http.Error(w, `the body must be {"image": "REGISTRY/REPO:TAG"}: no image`, http.StatusBadRequest)
		return
	}
	writeJSON(w, s.Decide(r.Context(), req.Image, req.Namespace))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// pin returns the image reference with the digest its tag resolves to. A
// reference no entry of the policy covers is returned as written, without
// asking the registry it names: validation denies it.
func (s *Server) pin(ctx context.Context, pol *Policy, image string) (string, error) {
	ref, ro, err := pull.Remote(ctx, pull.Target{Kind: pull.Registry, Ref: image, Input: image}, s.cfg.Pull)
	if err != nil {
		return "", err
	}
	if _, ok := ref.(name.Digest); ok {
		return image, nil
	}
	if pol.entryFor(ref.Context().Name()) == unmatched && pol.Unmatched != "allow" {
		return image, nil
	}
	dg, err := s.resolve(ctx, ref, ro)
	if err != nil {
		return "", err
	}
	return image + "@" + dg, nil
}

// TLS returns the server's TLS configuration: the certificate is read
// again when its files change (as cert-manager rotates them), and client
// certificates are verified against ClientCAs when set.
func (s *Server) TLS(certFile, keyFile string) (*tls.Config, error) {
	c := &certReloader{cert: certFile, key: keyFile, logger: s.logger, metrics: s.metrics}
	if err := c.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
	if s.cfg.ClientCAs != nil {
		cfg.ClientCAs = s.cfg.ClientCAs
		// Health and metrics stay reachable without one; the API checks.
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

type certReloader struct {
	cert, key string
	logger    *slog.Logger
	metrics   *metrics

	mu      sync.Mutex
	current *tls.Certificate
	stamp   string
	checked time.Time
}

func (c *certReloader) load() error {
	stamp := fileStamp(c.cert) + fileStamp(c.key)
	kp, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate %s and key %s: %w", c.cert, c.key, err)
	}
	c.current, c.stamp = &kp, stamp
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) > time.Second {
		c.checked = time.Now()
		if stamp := fileStamp(c.cert) + fileStamp(c.key); stamp != c.stamp {
			old := c.current
			if err := c.load(); err != nil {
				// A rotation half done (key written, certificate not yet):
				// keep serving the old pair and look again shortly.
				c.current = old
				c.metrics.reloads.WithLabelValues("certificate", "error").Inc()
				c.logger.Warn("the new TLS certificate does not load yet; serving the previous one", "error", err)
			} else {
				c.metrics.reloads.WithLabelValues("certificate", "ok").Inc()
				c.logger.Info("TLS certificate reloaded", "file", c.cert)
			}
		}
	}
	return c.current, nil
}

// Serve answers on l until ctx ends, then shuts down gracefully. With a
// TLS configuration it serves HTTPS only.
func (s *Server) Serve(ctx context.Context, l net.Listener, tlsCfg *tls.Config) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      s.cfg.Budget + 5*time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(l, "", "")
		} else {
			errc <- hs.Serve(l)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Budget+time.Second)
		defer cancel()
		err := hs.Shutdown(sctx)
		<-errc
		return err
	}
}
