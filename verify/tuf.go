package verify

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"

	"github.com/customs-dev/customs/internal/hint"
)

// PublicGoodMirror is the TUF repository of Sigstore's public-good
// instance.
const PublicGoodMirror = tuf.DefaultMirror

// TUF says where the trusted root comes from when no trusted_root.json is
// given: a TUF repository, whose metadata is checked from a root of trust
// (the public-good instance's, built in, unless another is given) and
// cached.
type TUF struct {
	// Mirror is the repository's URL; "" is PublicGoodMirror.
	Mirror string
	// RootFile is the initial TUF root.json of a private deployment; ""
	// is the public-good root built into sigstore-go.
	RootFile string
	// CacheDir keeps the verified metadata and targets.
	CacheDir string
	// CacheDays is how long the cached metadata is used before the
	// repository is asked again (it is always refreshed once expired).
	CacheDays int
}

// FetchTrustedRoot gets trusted_root.json through TUF.
func FetchTrustedRoot(t TUF) (*root.TrustedRoot, error) {
	opts := tuf.DefaultOptions()
	if t.Mirror != "" {
		u, err := url.Parse(t.Mirror)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
			return nil, hint.New(fmt.Errorf("the TUF mirror %q is not a URL", t.Mirror), "tuf-mirror", "%s takes an https, http or file URL")
		}
		opts.RepositoryBaseURL = t.Mirror
	}
	if t.RootFile != "" {
		b, err := os.ReadFile(t.RootFile)
		if err != nil {
			return nil, fmt.Errorf("reading the TUF root: %w", err)
		}
		opts.Root = b
	} else if opts.RepositoryBaseURL != PublicGoodMirror {
		return nil, hint.New(fmt.Errorf("the TUF repository %s needs its root of trust", opts.RepositoryBaseURL), "tuf-root", "give %s root.json")
	}
	if t.CacheDir != "" {
		opts.CachePath = filepath.Join(t.CacheDir, "tuf")
	}
	opts.CacheValidity = t.CacheDays
	tr, err := root.FetchTrustedRootWithOptions(opts)
	if err != nil {
		return nil, hint.New(fmt.Errorf("fetching the trusted root through TUF from %s: %w", opts.RepositoryBaseURL, err), "trusted-root", "offline, give %s trusted_root.json")
	}
	return tr, nil
}
