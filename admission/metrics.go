package admission

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	decisions    *prometheus.CounterVec   // result: allowed, denied, error
	latency      *prometheus.HistogramVec // endpoint
	cacheHits    *prometheus.CounterVec   // level: memory, bbolt, redis
	cacheMisses  prometheus.Counter
	scans        prometheus.Counter
	pushScans    prometheus.Counter
	newlyFailing prometheus.Counter
	scansRunning prometheus.Gauge
	errors       *prometheus.CounterVec // cause: registry, database, scan
	timeouts     prometheus.Counter
	storeErrors  *prometheus.CounterVec
	storeUp      prometheus.Gauge
	reloads      *prometheus.CounterVec // what: policy, database, certificate; result: ok, error
	dbAge        prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "customs_admission_decisions_total", Help: "Image decisions by result (allowed, denied, error: a denial because no decision could be made).",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "customs_admission_request_duration_seconds",
			Help:    "Time to answer a request, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "customs_admission_cache_hits_total", Help: "Decisions answered from the cache, by the level that had them.",
		}, []string{"level"}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "customs_admission_cache_misses_total", Help: "Decisions not in the cache.",
		}),
		scans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "customs_admission_scans_total", Help: "Scans started (concurrent requests for one image share one).",
		}),
		pushScans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "customs_admission_push_events_total", Help: "Image pushes a registry notified, each a decision started (a digest already decided is answered from the cache).",
		}),
		newlyFailing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "customs_admission_newly_failing_images", Help: "Images allowed before that a new revision of the vulnerability database fails, found by re-deciding the recent images on reload.",
		}),
		scansRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "customs_admission_scans_running", Help: "Scans running now.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "customs_admission_errors_total", Help: "Failures to decide, by cause: registry (unreachable, errors, bad content), database (no data for an ecosystem, unreadable records), scan (anything else).",
		}, []string{"cause"}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "customs_admission_budget_exceeded_total", Help: "Decisions that ran out of the request's time budget.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "customs_admission_cache_store_errors_total", Help: "Failures of the shared or on-disk decision cache.",
		}, []string{"store"}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "customs_admission_cache_store_up", Help: "1 when the shared or on-disk decision cache answers, 0 when the server decides from memory alone.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "customs_admission_reloads_total", Help: "Reloads of the policy, the vulnerability database and the TLS certificate, by result; on error the previous one stays in force.",
		}, []string{"what", "result"}),
		dbAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "customs_admission_database_newest_record_timestamp_seconds", Help: "Modification time of the newest record in the vulnerability database.",
		}),
	}
	m.storeUp.Set(1)
	for _, c := range []string{causeRegistry, causeDatabase, causeScan} {
		m.errors.WithLabelValues(c)
	}
	m.reg.MustRegister(m.decisions, m.latency, m.cacheHits, m.cacheMisses, m.scans, m.pushScans, m.newlyFailing, m.scansRunning, m.errors,
		m.timeouts, m.storeErrors, m.storeUp, m.reloads, m.dbAge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Causes of failures to decide.
const (
	causeRegistry = "registry"
	causeDatabase = "database"
	causeScan     = "scan"
)
