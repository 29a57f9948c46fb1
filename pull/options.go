package pull

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/cas"
)

// Options says where and how to fetch. The zero value is safe: no cache
// (a temporary one is used), anonymous registry access over HTTPS, the host
// platform and the module proxy settings of an empty environment.
type Options struct {
	// Cache keeps blobs, module files and derived entries between runs.
	Cache *cas.Store
	// Platform selects an image from a multi-platform index; nil means the
	// host's.
	Platform *v1.Platform
	// Keychain resolves registry credentials; nil means anonymous.
	Keychain authn.Keychain
	// InsecureRegistries are hosts (host[:port]) that may be reached over
	// plain HTTP. Loopback hosts always may; no other host is implied.
	InsecureRegistries []string
	// Transport is the HTTP transport for registries and the module proxy.
	Transport http.RoundTripper
	// Getenv reads the Go settings (GOPROXY, GOSUMDB, GONOSUMDB, GOPRIVATE,
	// GONOPROXY). nil reads nothing.
	Getenv func(string) string
	// Progress receives download progress; nil discards it.
	Progress func(Progress)
	// Logger receives debug detail; nil discards it.
	Logger *slog.Logger
}

// Progress is one update of a long download.
type Progress struct {
	// What is being fetched, for example "layers of 127.0.0.1:5000/app@sha256:…".
	What string
	// Done and Total are bytes; Total is 0 when unknown.
	Done, Total int64
	// Finished is set on the last update of What.
	Finished bool
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o.Logger
}

func (o *Options) getenv(k string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(k)
}

func (o *Options) progress(p Progress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}

func (o *Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

func (o *Options) transport() http.RoundTripper {
	t := o.Transport
	if t == nil {
		t = http.DefaultTransport
	}
	return &plainHTTPGuard{next: t, allowed: o.InsecureRegistries}
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (*v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" || strings.Count(s, "/") > 2 {
		return nil, &UsageError{Msg: "invalid platform " + quote(s), Hint: "write os/arch[/variant], for example linux/arm64 or linux/arm/v7"}
	}
	return p, nil
}

// plainHTTPGuard refuses plain-HTTP requests to hosts that were not named
// insecure. go-containerregistry falls back to HTTP for private-range and
// loopback hosts on its own; customs implies it for loopback only.
type plainHTTPGuard struct {
	next    http.RoundTripper
	allowed []string
}

func (g *plainHTTPGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !IsLoopback(r.URL.Hostname()) && !g.isAllowed(r.URL.Host) {
		return nil, &UsageError{
			Msg:  "refusing plain HTTP to " + r.URL.Host,
			Hint: "pass --insecure-registry " + r.URL.Host + " if this registry really has no TLS",
		}
	}
	return g.next.RoundTrip(r)
}

func (g *plainHTTPGuard) isAllowed(host string) bool {
	return insecureAllowed(g.allowed, host)
}

// insecureAllowed reports whether host (host[:port]) was named insecure:
// by host and port, or by host alone for any port, without regard to case.
func insecureAllowed(allowed []string, host string) bool {
	bare := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		bare = h
	}
	for _, a := range allowed {
		if strings.EqualFold(a, host) || strings.EqualFold(a, bare) {
			return true
		}
	}
	return false
}

// IsLoopback reports whether a host name or IP address is this machine.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func quote(s string) string { return "\"" + s + "\"" }
