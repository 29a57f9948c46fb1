package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/admission"
	"github.com/customs-dev/customs/verify"
)

func (a *app) newServeCmd() *cobra.Command {
	var (
		pf                        pullFlags
		listen, insecureListen    string
		tlsCert, tlsKey, clientCA string
		tokenFile, policy, db     string
		cache, tufMirror, tufRoot string
		trustedRoot               string
		budget, scanTimeout       time.Duration
		decisionTTL, resolveTTL   time.Duration
		reloadInterval            time.Duration
		rescanWindow              time.Duration
		harborVisibility          time.Duration
		maxScans                  int
		maxRequest                int64
	)
	cmd := &cobra.Command{
		Use:   "serve --policy FILE (--tls-cert F --tls-key F | --insecure-listen ADDR)",
		Short: "Decide whether images may run: a Kubernetes admission webhook and an HTTP check API",
		Long: `serve answers, over HTTPS, whether an image may run or be accepted, with the
same verification and scan as "customs scan --policy":

  POST /validate   Kubernetes AdmissionReview v1 (ValidatingAdmissionWebhook): Pods,
                   Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and
                   ReplicationControllers; containers, init and ephemeral containers.
                   On UPDATE only new or changed images are checked; DELETE is allowed.
  POST /mutate     (MutatingAdmissionWebhook, optional) pins repo:tag to repo:tag@sha256:…,
                   the digest that validation then verifies.
  POST /v1/check   {"image": "REGISTRY/REPO:TAG", "namespace": "…"} → the decision as JSON.
  GET  /healthz, /readyz (policy and vulnerability data loaded), /metrics (Prometheus).

The policy is a trust policy (see "customs verify --help") with scan rules per image
pattern and namespace and exempt namespaces; see docs/admission.md. It and the
database are reloaded when they change; a policy that does not load is refused and
the previous one kept.

Decisions are cached by (image digest, policy, rule, database revision), in memory and
on disk (bbolt, under the cache dir) or in Redis (--cache redis://HOST:6379/0) for
replicas to share; concurrent requests for one image cause one scan. A request gets
--budget (keep it below the webhook's timeoutSeconds, 10 s by default): when it runs
out, or the registry fails, the image is denied with the reason (fail closed), unless
the rule says failure-policy: open. A scan that outlives the budget goes on, so that
the API server's retry finds its decision.`,
		Example: `  customs serve --policy policy.yaml --tls-cert tls.crt --tls-key tls.key --client-ca ca.crt
  customs serve --policy policy.yaml --insecure-listen 127.0.0.1:8080 --cache redis://127.0.0.1:6379/0
  curl -s localhost:8080/v1/check -d '{"image": "registry.example/app:1.2"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if policy == "" {
				return usageError{err: errors.New("serve needs --policy FILE (a trust policy with scan rules; see docs/admission.md)")}
			}
			if insecureListen == "" && (tlsCert == "" || tlsKey == "") {
				return usageError{err: errors.New("serve speaks HTTPS only: give --tls-cert and --tls-key (or, for local use, --insecure-listen ADDR)")}
			}
			if insecureListen != "" && (tlsCert != "" || clientCA != "") {
				return usageError{err: errors.New("--insecure-listen serves plain HTTP: it does not go with --tls-cert or --client-ca")}
			}
			opts, err := pf.options(a, cmd)
			if err != nil {
				return err
			}
			opts.Progress = nil
			logger := a.serveLogger()
			opts.Logger = logger
			cfg := admission.Config{
				PolicyFile: policy,
				PreparePolicy: func(p *admission.Policy) error {
					if !p.NeedsTrustedRoot() {
						return nil
					}
					if trustedRoot != "" {
						tr, err := verify.LoadTrustedRoot(trustedRoot)
						if err != nil {
							return err
						}
						p.SetTrustedMaterial(tr)
						return nil
					}
					tr, err := a.tufRoot(tufMirror, tufRoot)
					if err != nil {
						return fmt.Errorf("%s names no trusted-root: %w", policy, err)
					}
					p.SetTrustedMaterial(tr)
					return nil
				},
				DB:               a.dbPath(db),
				Pull:             opts,
				SBOM:             pf.sbomOptions(opts.Cache, nil, nil),
				Budget:           budget,
				ScanTimeout:      scanTimeout,
				MaxScans:         maxScans,
				MaxReviewSize:    maxRequest,
				DecisionTTL:      decisionTTL,
				ResolveTTL:       resolveTTL,
				ReloadInterval:   reloadInterval,
				RescanWindow:     rescanWindow,
				HarborVisibility: harborVisibility,
				Logger:           logger,
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("reading --token-file: %w", err)
				}
				if cfg.Token = strings.TrimSpace(string(b)); cfg.Token == "" {
					return usageError{err: fmt.Errorf("--token-file %s is empty", tokenFile)}
				}
			}
			if clientCA != "" {
				b, err := os.ReadFile(clientCA)
				if err != nil {
					return fmt.Errorf("reading --client-ca: %w", err)
				}
				cfg.ClientCAs = x509.NewCertPool()
				if !cfg.ClientCAs.AppendCertsFromPEM(b) {
					return usageError{err: fmt.Errorf("--client-ca %s holds no PEM certificate", clientCA)}
				}
			}
			switch {
			case strings.HasPrefix(cache, "redis://"), strings.HasPrefix(cache, "rediss://"):
				if cfg.Store, err = admission.OpenRedis(cache, 250*time.Millisecond); err != nil {
					return usageError{err: err}
				}
			case cache == "none":
			default:
				if cache == "" {
					cache = filepath.Join(a.cachePath(), "admission")
				}
				if cfg.Store, err = admission.OpenBolt(cache, time.Now); err != nil {
					return err
				}
			}
			srv, err := admission.New(cfg)
			if err != nil {
				if cfg.Store != nil {
					cfg.Store.Close()
				}
				if errors.Is(err, verify.ErrPolicy) {
					return usageError{err: err}
				}
				return err
			}
			defer srv.Close()
			if err := srv.Ready(); err != nil {
				logger.Warn("not ready yet: /readyz says 503 until this is fixed", "reason", err)
			}
			addr := listen
			if insecureListen != "" {
				addr = insecureListen
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			if insecureListen != "" {
				logger.Warn("serving plain HTTP: for local use only", "addr", l.Addr().String())
				return srv.Serve(cmd.Context(), l, nil)
			}
			tlsCfg, err := srv.TLS(tlsCert, tlsKey)
			if err != nil {
				l.Close()
				return err
			}
			logger.Info("serving HTTPS", "addr", l.Addr().String(), "policy", policy, "cache", cache)
			return srv.Serve(cmd.Context(), l, tlsCfg)
		},
	}
	pf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&policy, "policy", "", "policy (YAML): the trust policy with scan rules; reloaded when it changes")
	f.StringVar(&listen, "listen", ":8443", "HTTPS address")
	f.StringVar(&insecureListen, "insecure-listen", "", "serve plain HTTP on this address instead of HTTPS (local use only)")
	f.StringVar(&tlsCert, "tls-cert", "", "TLS certificate (PEM); reloaded when it changes")
	f.StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM); reloaded when it changes")
	f.StringVar(&clientCA, "client-ca", "", "require API callers to present a client certificate signed by these CAs (PEM)")
	f.StringVar(&tokenFile, "token-file", "", "file holding a bearer token API callers may present instead")
	f.StringVar(&db, "db", "", "vulnerability database directory (default $CUSTOMS_DB, else the cache dir + /osv)")
	f.StringVar(&cache, "cache", "", "decision cache: a directory (bbolt; default the cache dir + /admission), redis://HOST:PORT/DB, or none (memory only)")
	f.DurationVar(&budget, "budget", 8*time.Second, "time a request may take; keep it below the webhook's timeoutSeconds")
	f.DurationVar(&scanTimeout, "scan-timeout", 5*time.Minute, "time a scan may take when it outlives its request")
	f.IntVar(&maxScans, "max-scans", 2, "scans that may run at once")
	f.Int64Var(&maxRequest, "max-request-size", 7<<20, "largest AdmissionReview body accepted, in bytes")
	f.DurationVar(&decisionTTL, "decision-ttl", time.Hour, "how long a decision is reused")
	f.DurationVar(&resolveTTL, "resolve-ttl", 30*time.Second, "how long a tag's digest is reused")
	f.DurationVar(&reloadInterval, "reload-interval", 5*time.Second, "how often the policy and the database are checked for changes")
	f.DurationVar(&harborVisibility, "harbor-visibility-timeout", 30*time.Second, "with a Redis --cache: how long a Harbor scan job may look idle before another replica takes it over")
	f.DurationVar(&rescanWindow, "rescan-window", 7*24*time.Hour, "when the database changes, re-decide the images allowed within this window from their inventories, without pulling them (negative: never)")
	f.StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root (JSON), when the policy names none and needs one; otherwise it comes from TUF")
	f.StringVar(&tufMirror, "tuf-mirror", verify.PublicGoodMirror, "TUF repository for the trusted root, when the policy names none and needs one")
	f.StringVar(&tufRoot, "tuf-root", "", "initial root.json of --tuf-mirror (default: the embedded public-good root)")
	return cmd
}

// serveLogger logs decisions and reloads: a server's log is its record.
func (a *app) serveLogger() *slog.Logger {
	level := slog.LevelInfo
	if a.verbose > 0 {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}
