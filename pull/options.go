package pull

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/hint"
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
	// Limits bound what an image may make customs read; zero fields take
	// the defaults of DefaultLimits.
	Limits Limits
	// ConfirmDigests asks the registry for a digest reference's manifest
	// even when the cache holds it, so that the registry confirms that this
	// repository holds that digest: the cache is shared by digest across
	// repositories. Admission sets it; a CLI scan by digest reads its cache
	// offline.
	ConfirmDigests bool
}

// Limits bound what an image may make customs read.
type Limits struct {
	// MaxImageSize bounds the sum of the layers' compressed sizes.
	MaxImageSize int64
	// MaxLayers bounds the number of layers.
	MaxLayers int
	// MaxExpansion bounds how many times its compressed size a layer may
	// decompress to.
	MaxExpansion int64
	// MaxFiles bounds the tar entries of an image's layers together;
	// MaxFileSize the size of one file.
	MaxFiles, MaxFileSize int64
	// MaxManifestSize bounds a manifest, index or config read into memory.
	MaxManifestSize int64
	// MaxSBOMSize bounds the file of an sbom: target.
	MaxSBOMSize int64
}

// DefaultLimits are generous for real images (Docker itself stops at 127
// layers) and stop hostile ones before they fill memory or disk.
func DefaultLimits() Limits {
	return Limits{MaxImageSize: 16 << 30, MaxLayers: 256, MaxExpansion: 200, MaxFiles: 1 << 20, MaxFileSize: 8 << 30, MaxManifestSize: 4 << 20, MaxSBOMSize: 512 << 20}
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	if l.MaxLayers <= 0 {
		l.MaxLayers = d.MaxLayers
	}
	for _, f := range []struct{ v, def *int64 }{
		{&l.MaxImageSize, &d.MaxImageSize}, {&l.MaxExpansion, &d.MaxExpansion}, {&l.MaxFiles, &d.MaxFiles},
		{&l.MaxFileSize, &d.MaxFileSize}, {&l.MaxManifestSize, &d.MaxManifestSize}, {&l.MaxSBOMSize, &d.MaxSBOMSize},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// LimitError is an image over one of the limits; Setting names the limit
// that raises it ("max-layers"), which the front end spells (hint.Word).
type LimitError struct {
	What       string
	Value, Max int64
	Setting    string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the image has %s %d, over the limit of %d (%s)", e.What, e.Value, e.Max, hint.Text(e, hint.Plain))
}

// Hint implements hint.Hinted.
func (e *LimitError) Hint() (setting, advice string) {
	return e.Setting, "raise it with %s if the image is trusted"
}

// checkManifest holds an image manifest to the limits before any layer is
// read.
func (l Limits) checkManifest(m *v1.Manifest) error {
	l = l.orDefaults()
	if n := len(m.Layers); n > l.MaxLayers {
		return &LimitError{What: "a layer count of", Value: int64(n), Max: int64(l.MaxLayers), Setting: "max-layers"}
	}
	var size int64
	for _, d := range m.Layers {
		if d.Size < 0 {
			return fmt.Errorf("layer %s has a negative size", d.Digest)
		}
		size += d.Size
	}
	if size > l.MaxImageSize {
		return &LimitError{What: "compressed layers of bytes", Value: size, Max: l.MaxImageSize, Setting: "max-image-size"}
	}
	return nil
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
		return nil, hint.New(&UsageError{Msg: "refusing plain HTTP to " + r.URL.Host},
			"insecure-registry", "pass %s "+r.URL.Host+" if this registry really has no TLS")
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
