package admission

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// TestRescanOnDatabaseReload: an image allowed under one database is
// re-decided when a new advisory (a critical one for gjson 1.6.5) lands in
// it, from the packages its scan inventoried, with the registry gone: the
// decision is denied, counted as newly failing, and answered from the
// cache.
func TestRescanOnDatabaseReload(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	target, _ := url.Parse("http://" + reg.Host)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	host := strings.TrimPrefix(proxy.URL, "http://")
	img := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
	digest := signtest.Push(t, host+"/app:1", img)

	f := newFixture(t, "version: 1\nunmatched: allow\ndefaults:\n  fail-on: critical\n  unknown-severity: pass\n")
	// The database without the critical record.
	critical := filepath.Join(f.db, "GHSA-v778-237x-gjrc.json")
	record, err := os.ReadFile(critical)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(critical)
	s, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	image := host + "/app@" + digest.String()
	if d := check(t, h, image); !d.Allowed {
		t.Fatalf("before the advisory: %+v", d)
	}

	proxy.Close() // the registry is gone: nothing can be pulled again
	if err := os.WriteFile(critical, record, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(s.metrics.newlyFailing) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the image was not re-decided within 30 s of the database change")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := check(t, h, image)
	if d.Allowed || d.Cached == "" || !strings.Contains(strings.Join(d.Reasons, " "), "CRITICAL") {
		t.Errorf("after the advisory: %+v; want a denial for the critical finding, from the cache", d)
	}
	if n := testutil.ToFloat64(s.metrics.scans); n != 1 {
		t.Errorf("%v scans; want the one before the reload", n)
	}
}
