package verify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/customs-dev/customs/internal/hint"
	"github.com/customs-dev/customs/internal/tuftest"
)

// TestTUF fetches the trusted root through a TUF repository served on
// loopback (the same client as for Sigstore's public-good repository,
// given that repository's root of trust), verifies a real bundle with it,
// works from the cache once offline, and refuses tampered targets and a
// repository signed by other keys.
func TestTUF(t *testing.T) {
	publicGood, err := os.ReadFile(shared(t, "trusted-roots/public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	bun, err := LoadBundle(shared(t, "bundles/sigstore.js@2.0.0-provenance.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	repo := tuftest.Serve(t, map[string][]byte{"trusted_root.json": publicGood})
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.json")
	os.WriteFile(rootFile, repo.Root, 0o644)
	cache := filepath.Join(dir, "cache")

	tr, err := FetchTrustedRoot(TUF{Mirror: repo.URL, RootFile: rootFile, CacheDir: cache, CacheDays: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{Subject: sigstoreJSIdentity, Issuer: githubIssuer}
	if _, err := Entity(bun, digest(t, "sha512", sigstoreJSDigest), Options{TrustedRoot: tr, Identity: id}); err != nil {
		t.Fatalf("verifying with the root from TUF: %v", err)
	}

	t.Run("offline, from the cache", func(t *testing.T) {
		repo.Offline()
		if _, err := FetchTrustedRoot(TUF{Mirror: repo.URL, RootFile: rootFile, CacheDir: cache, CacheDays: 1}); err != nil {
			t.Fatalf("with a fresh cache: %v", err)
		}
		_, err := FetchTrustedRoot(TUF{Mirror: repo.URL, RootFile: rootFile, CacheDir: t.TempDir()})
		if err == nil || !hint.Is(err, "trusted-root") {
			t.Fatalf("offline without a cache: %v, want advice to give a trusted root", err)
		}
	})
	t.Run("tampered target", func(t *testing.T) {
		r := tuftest.Serve(t, map[string][]byte{"trusted_root.json": publicGood})
		r.Tamper("trusted_root.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`))
		f := filepath.Join(t.TempDir(), "root.json")
		os.WriteFile(f, r.Root, 0o644)
		if _, err := FetchTrustedRoot(TUF{Mirror: r.URL, RootFile: f, CacheDir: t.TempDir()}); err == nil {
			t.Fatal("a tampered trusted root was accepted")
		}
	})
	t.Run("repository signed by other keys", func(t *testing.T) {
		other := tuftest.Serve(t, map[string][]byte{"trusted_root.json": publicGood})
		if _, err := FetchTrustedRoot(TUF{Mirror: other.URL, RootFile: rootFile, CacheDir: t.TempDir()}); err == nil {
			t.Fatal("metadata signed by keys the root of trust does not name was accepted")
		}
	})
	t.Run("a mirror needs its root", func(t *testing.T) {
		_, err := FetchTrustedRoot(TUF{Mirror: repo.URL, CacheDir: t.TempDir()})
		if err == nil || !hint.Is(err, "tuf-root") {
			t.Fatalf("err = %v", err)
		}
	})
}
