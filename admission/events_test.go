package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestScanOnPush runs the real docker-registry with a notification
// endpoint pointing at customs (authenticated with the server's token):
// pushing an image starts its scan before anyone asks; a later /v1/check
// of its tag is answered from the cache; pushing the same digest under
// another tag scans nothing again; a pull sends no scan.
func TestScanOnPush(t *testing.T) {
	f := newFixture(t, "version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n")
	cfg := f.config()
	cfg.Token = "push-token"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	reg := registrytest.Start(t, registrytest.Options{Notify: srv.URL + "/v1/events/distribution", NotifyToken: cfg.Token})

	img := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
	signtest.Push(t, reg.Host+"/app:1", img)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen within 60 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the scan on push", func() bool {
		return testutil.ToFloat64(s.metrics.scans) == 1 && testutil.ToFloat64(s.metrics.scansRunning) == 0
	})

	checkTag := func(tag string) Decision {
		body, _ := json.Marshal(CheckRequest{Image: reg.Host + "/app:" + tag})
		req, _ := http.NewRequest("POST", srv.URL+"/v1/check", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d Decision
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&d) != nil {
			t.Fatalf("/v1/check: %d", resp.StatusCode)
		}
		return d
	}
	if d := checkTag("1"); d.Cached == "" || d.Allowed {
		t.Errorf("/v1/check after the push: %+v; want the decision made on push (denied: a critical finding), from the cache", d)
	}
	// The same digest again, under another tag: no second scan.
	signtest.Push(t, reg.Host+"/app:again", img)
	waitFor("the second push's events", func() bool { return testutil.ToFloat64(s.metrics.pushScans) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if n := testutil.ToFloat64(s.metrics.scans); n != 1 {
		t.Errorf("%v scans after pushing one digest twice; want 1", n)
	}
	if d := checkTag("again"); d.Cached == "" {
		t.Errorf("/v1/check of the second tag: %+v; want it from the cache", d)
	}
}
