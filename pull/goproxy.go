package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ModuleError is a failure to fetch or verify a Go module.
type ModuleError struct {
	Module string // path@version
	Op     string
	Err    error
	Hint   string
}

func (e *ModuleError) Error() string {
	s := fmt.Sprintf("%s %s: %v", e.Op, e.Module, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *ModuleError) Unwrap() error { return e.Err }

// errNotFound is a 404 or 410 from a proxy: the next proxy in a
// comma-separated list may be tried.
var errNotFound = errors.New("not found")

type proxyEntry struct {
	url string
	// fallThroughAll is set when the entry is followed by "|": any error
	// falls through to the next one, not only "not found".
	fallThroughAll bool
}

// proxyList parses GOPROXY as the go command does.
func proxyList(goproxy string) ([]proxyEntry, error) {
	if goproxy == "" {
		goproxy = "https://proxy.golang.org,direct"
	}
	var list []proxyEntry
	for goproxy != "" {
		var entry string
		var pipe bool
		if i := strings.IndexAny(goproxy, ",|"); i >= 0 {
			entry, pipe, goproxy = goproxy[:i], goproxy[i] == '|', goproxy[i+1:]
		} else {
			entry, goproxy = goproxy, ""
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		switch entry {
		case "direct", "off", "noproxy":
		default:
			u, err := url.Parse(entry)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") {
				return nil, &UsageError{Msg: fmt.Sprintf("invalid GOPROXY entry %q", redactURL(entry)), Hint: "GOPROXY is a list of https://, http:// or file:// URLs, direct and off"}
			}
			entry = strings.TrimSuffix(entry, "/")
		}
		list = append(list, proxyEntry{url: entry, fallThroughAll: pipe})
	}
	return list, nil
}

type goproxy struct {
	proxies []proxyEntry
	client  *http.Client
}

// get fetches path (already escaped, starting with "/") from the first
// proxy that has it.
func (g *goproxy) get(ctx context.Context, p string) ([]byte, error) {
	var lastErr error = errNotFound
	for _, e := range g.proxies {
		switch e.url {
		case "off":
			return nil, &UsageError{Msg: "module downloads are disabled by GOPROXY=off", Hint: "set GOPROXY to a module proxy"}
		case "direct", "noproxy":
			return nil, fmt.Errorf("%w on the proxies in GOPROXY, and customs does not fetch from version control (GOPROXY=direct): set GOPROXY to a proxy that serves it", lastErr)
		}
		b, err := g.fetch(ctx, e.url+p)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !errors.Is(err, errNotFound) && !e.fallThroughAll {
			return nil, err
		}
	}
	return nil, lastErr
}

const maxProxyResponse = 512 << 20

func (g *goproxy) fetch(ctx context.Context, u string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(u, "file://"); ok {
		b, err := os.ReadFile(filepath.FromSlash(rest))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", u, errNotFound)
		}
		return b, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "customs")
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the module proxy: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProxyResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", redactURL(u), err)
	}
	if len(b) > maxProxyResponse {
		return nil, fmt.Errorf("%s: response larger than %d bytes", redactURL(u), maxProxyResponse)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return b, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		msg := proxyMessage(b)
		if msg == "" {
			msg = resp.Status
		}
		return nil, fmt.Errorf("%w: %s", errNotFound, msg)
	default:
		// A proxy explains a refusal in the body ("not found: ... 403
		// Forbidden ... module is retracted", a policy's reason).
		if msg := proxyMessage(b); msg != "" {
			return nil, fmt.Errorf("%s: %s: %s", redactURL(u), resp.Status, msg)
		}
		return nil, fmt.Errorf("%s: %s", redactURL(u), resp.Status)
	}
}

// proxyMessage is the text of a proxy's error response, on one line and
// at most 300 bytes: enough for its reason, not a whole HTML page.
func proxyMessage(b []byte) string {
	msg := strings.Join(strings.Fields(string(b)), " ")
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	return msg
}

// redactURL hides the password of a URL with credentials, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}
