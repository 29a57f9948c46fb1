package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/hint"
)

// RegistryError is a failure talking to a registry, with what to do next.
type RegistryError struct {
	Ref  string
	Op   string
	Err  error
	Hint string
}

func (e *RegistryError) Error() string {
	s := fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *RegistryError) Unwrap() error { return e.Err }

// Remote parses a registry target and returns the options that reach it
// as every fetch of customs does: credentials from the keychain, plain HTTP
// only where allowed, the configured transport.
func Remote(ctx context.Context, t Target, opts Options) (name.Reference, []remote.Option, error) {
	if t.Kind != Registry {
		return nil, nil, &UsageError{Msg: fmt.Sprintf("%s is not an image in a registry", t.Input), Hint: "signatures are found in the registry that holds the image: write REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST"}
	}
	var nameOpts []name.Option
	if host := registryHost(t.Ref); host != "" && insecureAllowed(opts.InsecureRegistries, host) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(t.Ref, nameOpts...)
	if err != nil {
		return nil, nil, &UsageError{Msg: fmt.Sprintf("invalid image reference %q: %v", t.Ref, err), Hint: "write REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST, or name a transport such as oci: or dir:"}
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	return ref, []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(opts.transport()),
		remote.WithUserAgent("customs"),
	}, nil
}

func registryImage(ctx context.Context, t Target, opts Options) (*Artifact, error) {
	ref, ropts, err := Remote(ctx, t, opts)
	if err != nil {
		return nil, err
	}
	repo := ref.Context()
	store := opts.Cache

	fetchBlob := func(h v1.Hash) ([]byte, error) {
		if b, err := readBlob(store, h, opts.Limits); err == nil {
			return b, nil
		}
		desc, err := remote.Get(repo.Digest(h.String()), ropts...)
		if err != nil {
			return nil, Classify(t.Ref, "fetching manifest", err)
		}
		if _, _, err := store.PutBlob(bytesReader(desc.Manifest), h.Hex); err != nil {
			return nil, fmt.Errorf("caching manifest %s: %w", h, err)
		}
		return desc.Manifest, nil
	}

	fetchConfig := func(h v1.Hash) ([]byte, error) {
		if b, err := readBlob(store, h, opts.Limits); err == nil {
			return b, nil
		}
		l, err := remote.Layer(repo.Digest(h.String()), ropts...)
		if err != nil {
			return nil, Classify(t.Ref, "fetching config", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, Classify(t.Ref, "fetching config", err)
		}
		defer rc.Close()
		b, err := readVerified(rc, h, opts.Limits)
		if err != nil {
			return nil, Classify(t.Ref, "fetching config", err)
		}
		if _, _, err := store.PutBlob(bytesReader(b), h.Hex); err != nil {
			return nil, fmt.Errorf("caching config %s: %w", h, err)
		}
		return b, nil
	}

	// A digest reference whose manifest is cached needs no network at all,
	// unless the registry must confirm that the repository holds it.
	var root v1.Hash
	var raw []byte
	var mt types.MediaType
	if d, ok := ref.(name.Digest); ok && !opts.ConfirmDigests {
		root, err = v1.NewHash(d.DigestStr())
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("invalid digest in %q: %v", t.Ref, err)}
		}
		// A digest the cache lacks, or holds damaged, is fetched below.
		raw, _ = readBlob(store, root, opts.Limits)
	}
	if raw == nil {
		desc, err := remote.Get(ref, ropts...)
		if err != nil {
			return nil, Classify(t.Ref, "resolving", err)
		}
		root, raw, mt = desc.Digest, desc.Manifest, desc.MediaType
		if !store.HasBlob(root.Hex) {
			if _, _, err := store.PutBlob(bytesReader(raw), root.Hex); err != nil {
				return nil, fmt.Errorf("caching manifest %s: %w", root, err)
			}
		}
	}
	sel, err := selectImage(root, raw, mt, fetchers{manifest: fetchBlob, config: fetchConfig}, opts.platform(), opts.Platform != nil)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", t.Ref, err)
	}
	a := &Artifact{
		Target:      t,
		Digest:      sel.manifest,
		IndexDigest: sel.index,
		Platform:    sel.platform,
		Reference:   repo.Digest(sel.manifest.String()).String(),
	}
	a.image = func(ctx context.Context) (v1.Image, error) {
		img, err := cachedImage(store, sel.manifest, opts.Limits)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return img, err
		}
		// The limits hold before anything is downloaded.
		if raw, err := readBlob(store, sel.manifest, opts.Limits); err == nil {
			if m, err := v1.ParseManifest(bytes.NewReader(raw)); err == nil {
				if err := opts.Limits.checkManifest(m); err != nil {
					return nil, err
				}
			}
		}
		if err := downloadImage(ctx, repo, sel.manifest, store, append(ropts, remote.WithContext(ctx)), opts); err != nil {
			return nil, err
		}
		return cachedImage(store, sel.manifest, opts.Limits)
	}
	return a, nil
}

// downloadImage fetches the blobs of an image manifest that the store
// lacks (or holds corrupt), verifying each against its digest.
func downloadImage(ctx context.Context, repo name.Repository, manifest v1.Hash, store *cas.Store, ropts []remote.Option, opts Options) error {
	raw, err := readBlob(store, manifest, opts.Limits)
	if err != nil {
		desc, err := remote.Get(repo.Digest(manifest.String()), ropts...)
		if err != nil {
			return Classify(repo.String(), "fetching manifest", err)
		}
		raw = desc.Manifest
		if _, _, err := store.PutBlob(bytesReader(raw), manifest.Hex); err != nil {
			return fmt.Errorf("caching manifest %s: %w", manifest, err)
		}
	}
	m, err := v1.ParseManifest(bytesReader(raw))
	if err != nil {
		return fmt.Errorf("parsing manifest %s: %w", manifest, err)
	}
	blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
	var total, done int64
	var missing []v1.Descriptor
	for _, d := range blobs {
		if d.Digest.Algorithm != "sha256" {
			return fmt.Errorf("blob %s: unsupported digest algorithm", d.Digest)
		}
		if verifyBlob(store, d.Digest) == nil {
			continue
		}
		missing = append(missing, d)
		total += d.Size
	}
	what := "pulling " + repo.String() + "@" + manifest.String()[:19]
	for _, d := range missing {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := remote.Layer(repo.Digest(d.Digest.String()), ropts...)
		if err != nil {
			return Classify(repo.String(), "fetching blob "+d.Digest.String(), err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return Classify(repo.String(), "fetching blob "+d.Digest.String(), err)
		}
		base := done
		pr := &progressReader{r: rc, report: func(n int64) {
			opts.progress(Progress{What: what, Done: base + n, Total: total})
		}}
		_, n, err := store.PutBlob(pr, d.Digest.Hex)
		rc.Close()
		if err != nil {
			return Classify(repo.String(), "fetching blob "+d.Digest.String(), err)
		}
		done += n
	}
	if len(missing) > 0 {
		opts.progress(Progress{What: what, Done: done, Total: total, Finished: true})
	}
	return nil
}

// Classify turns registry errors into messages that say what to do.
func Classify(ref, op string, err error) error {
	var terr *transport.Error
	var uerr *UsageError
	var mm *cas.MismatchError
	switch {
	case errors.As(err, &uerr):
		return uerr
	case errors.As(err, &mm):
		return &RegistryError{Ref: ref, Op: op, Err: fmt.Errorf("digest mismatch: %w", err), Hint: "the registry served content that does not match its digest; the blob was not cached"}
	case errors.As(err, &terr):
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &RegistryError{Ref: ref, Op: op, Err: err, Hint: "the registry refused access: log in with `docker login` (customs reads ~/.docker/config.json and credential helpers) or check that the repository exists"}
		case http.StatusNotFound:
			return &RegistryError{Ref: ref, Op: op, Err: err, Hint: "no such image or tag in this registry; check the name, tag and digest"}
		case http.StatusTooManyRequests:
			return &RegistryError{Ref: ref, Op: op, Err: err, Hint: "the registry is rate-limiting; log in or retry later"}
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return &RegistryError{Ref: ref, Op: op, Err: err, Hint: "no such image or tag in this registry"}
			}
		}
		return &RegistryError{Ref: ref, Op: op, Err: err}
	}
	var nerr net.Error
	var operr *net.OpError
	if errors.As(err, &operr) || errors.As(err, &nerr) {
		return hint.New(&RegistryError{Ref: ref, Op: op, Err: err}, "insecure-registry",
			"cannot reach the registry: check the host name, port and network, or %s for a plain-HTTP registry")
	}
	return &RegistryError{Ref: ref, Op: op, Err: err}
}

func registryHost(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ""
	}
	return r.Context().RegistryStr()
}

type progressReader struct {
	r      io.Reader
	n      int64
	last   int64
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 256<<10 || err != nil {
		p.last = p.n
		p.report(p.n)
	}
	return n, err
}
