package deploy

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// BenchmarkKubePodCreate measures pod creations through the real API
// server, one at a time and eight at a time: with customs' webhooks
// (namespace bench); without them (namespace gate, which the chart
// excludes); and with the same webhooks answered by a server that allows
// everything at once, the floor of any webhook. The same pods, of one
// signed image by tag, with customs' decisions warm (the mutating webhook
// pins from the tag cache, the validating one answers from the decision
// cache). It reports pods/s, the p50 and p99 latency of a creation, and
// the time customs itself took per creation. Figures: bench/README.md.
//
//	go test -run '^$' -bench KubePodCreate -benchtime 2000x -count 5 ./deploy
func BenchmarkKubePodCreate(b *testing.B) {
	c := kube(b)
	w := newWorld(b)
	g := c.startGate(b, w.policy(), w.publicKey())
	image := w.reg.Host + "/signed/good:1"
	for _, ns := range []string{releaseNS, "bench"} {
		c.Namespace(b, ns)
		if _, err := createPod(c.Client, ns, "", image, false); err != nil {
			b.Fatal(err)
		}
	}
	modes := []struct{ name, ns string }{
		{"webhook=off", releaseNS},
		{"webhook=customs", "bench"},
		// The same webhooks answered by a server that allows everything
		// at once: what any webhook costs the API server.
		{"webhook=noop", "bench"},
	}
	for _, mode := range modes {
		if mode.name == "webhook=noop" {
			g.stop()
			c.serveNoop(b)
		}
		for _, par := range []struct {
			name string
			n    int // goroutines per GOMAXPROCS
		}{{"serial", 0}, {"parallel=8", 4}} {
			b.Run(mode.name+"/"+par.name, func(b *testing.B) {
				var mu sync.Mutex
				lat := make([]time.Duration, 0, b.N)
				create := func() {
					start := time.Now()
					if _, err := createPod(c.Client, mode.ns, "", image, false); err != nil {
						b.Error(err)
					}
					took := time.Since(start)
					mu.Lock()
					lat = append(lat, took)
					mu.Unlock()
				}
				inCustoms := 0.0
				if g.cmd != nil {
					inCustoms = g.reviewSeconds()
				}
				b.ResetTimer()
				start := time.Now()
				if par.n == 0 {
					for range b.N {
						create()
					}
				} else {
					b.SetParallelism(par.n)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							create()
						}
					})
				}
				elapsed := time.Since(start)
				slices.Sort(lat)
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "pods/s")
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
				if g.cmd != nil {
					// The time customs itself took to answer the two
					// reviews of a creation, on average; the rest of the
					// webhooks' cost is the API server's calls.
					b.ReportMetric((g.reviewSeconds()-inCustoms)*1000/float64(len(lat)), "customs-ms")
				}
			})
		}
	}
}

// reviewSeconds is the time customs took to answer all reviews so far.
func (g *gate) reviewSeconds() float64 {
	return g.metric(`customs_admission_request_duration_seconds_sum{endpoint="validate"}`) +
		g.metric(`customs_admission_request_duration_seconds_sum{endpoint="mutate"}`)
}

// serveNoop answers the webhooks in customs' place, allowing everything
// without a look, until the benchmark ends.
func (c *cluster) serveNoop(b *testing.B) {
	cert, key, _ := c.ca.issue(b)
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		b.Fatal(err)
	}
	l, err := tls.Listen("tcp", c.addr, &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		review.Request = nil
		json.NewEncoder(w).Encode(&review)
	})}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
