package admission

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/customs-dev/customs/internal/signtest"
)

// truncatingWriter sends half of each blob, as a registry that drops the
// connection midway does.
type truncatingWriter struct {
	http.ResponseWriter
	left int
}

func (w *truncatingWriter) Write(b []byte) (int, error) {
	if w.left <= 0 {
		return 0, http.ErrHandlerTimeout
	}
	if len(b) > w.left {
		b = b[:w.left]
	}
	n, err := w.ResponseWriter.Write(b)
	w.left -= n
	return n, err
}

// TestFaults puts registry failures under the server: each is a denial
// that names the problem, within the budget, and nothing is left running.
func TestFaults(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	const budget = time.Second

	down, _ := net.Listen("tcp", "127.0.0.1:0")
	downHost := down.Addr().String()
	down.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	truncating := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			(&truncatingWriter{w, rec.Body.Len() / 2}).Write(rec.Body.Bytes())
			return
		}
		inner.ServeHTTP(w, r)
	}))
	truncHost := strings.TrimPrefix(truncating.URL, "http://")
	signtest.Push(t, truncHost+"/app:1", signtest.Image(t))

	transport := http.DefaultTransport.(*http.Transport).Clone()
	f := newFixture(t, "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\nrules:\n  - images: "+truncHost+"/open/**\n    failure-policy: open\n")
	cfg := f.config()
	cfg.Budget = budget
	cfg.Pull.Transport = transport
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.timed("check", http.HandlerFunc(s.serveCheck))
	for _, tc := range []struct {
		name, image, reason string
	}{
		{"registry down", downHost + "/app:1", "cannot reach the registry"},
		{"registry slow", strings.TrimPrefix(slow.URL, "http://") + "/app:1", "no decision within the time budget of 1s"},
		{"registry 500", strings.TrimPrefix(failing.URL, "http://") + "/app:1", "500"},
		{"truncated blob", truncHost + "/app:1", "unexpected EOF"},
	} {
		start := time.Now()
		d := check(t, h, tc.image)
		took := time.Since(start)
		if d.Allowed || !strings.Contains(strings.Join(d.Reasons, "; "), tc.reason) {
			t.Errorf("%s: %+v; want a denial naming %q", tc.name, d, tc.reason)
		}
		if took > budget+500*time.Millisecond {
			t.Errorf("%s: answered after %s, past the budget of %s", tc.name, took, budget)
		}
		t.Logf("%s: denied in %s: %s", tc.name, took.Round(time.Millisecond), strings.Join(d.Reasons, "; "))
	}
	// failure-policy: open lets an image through without a decision, and
	// says so.
	signtest.Push(t, truncHost+"/open/app:1", signtest.Image(t))
	if d := check(t, h, truncHost+"/open/app:1"); !d.Allowed || len(d.Warnings) == 0 || !strings.Contains(d.Warnings[0], "failure-policy: open") {
		t.Errorf("failure-policy open: %+v", d)
	}
	// Failures are not cached: the next request tries again.
	if d := check(t, h, truncHost+"/app:1"); d.Cached != "" {
		t.Errorf("a failure was cached: %+v", d)
	}
	if got := testutil.ToFloat64(s.metrics.decisions.WithLabelValues("error")); got != 6 {
		t.Errorf("error decisions %v, want 6", got)
	}
	if testutil.ToFloat64(s.metrics.errors.WithLabelValues(causeRegistry)) < 3 || testutil.ToFloat64(s.metrics.timeouts) != 1 {
		t.Errorf("registry errors %v, timeouts %v", testutil.ToFloat64(s.metrics.errors.WithLabelValues(causeRegistry)), testutil.ToFloat64(s.metrics.timeouts))
	}

	s.Close()
	slow.Close()
	failing.Close()
	truncating.Close()
	transport.CloseIdleConnections()
	goleak.VerifyNone(t, leaks)
}
