package pull

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxyRefusalKeepsItsReason serves a 403 as proxy.golang.org does for
// a version it will not serve: the error carries the proxy's explanation,
// bounded, and not only "403 Forbidden".
func TestProxyRefusalKeepsItsReason(t *testing.T) {
	reason := "not found: example.com/m@v1.0.0: verifying module: checksum mismatch; the module is blocked by policy"
	for _, tt := range []struct {
		name, body, want string
	}{
		{"reason", reason + "\n", "403 Forbidden: " + reason},
		{"long", strings.Repeat("x", 5000), "403 Forbidden: " + strings.Repeat("x", 300) + "…"},
		{"empty", "", "403 Forbidden"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			g := &goproxy{proxies: []proxyEntry{{url: srv.URL}}, client: srv.Client()}
			_, err := g.get(context.Background(), "/example.com/m/@v/v1.0.0.info")
			if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("get() error = %v, want it to end %q", err, tt.want)
			}
		})
	}
}
