// Package tuftest serves a TUF repository on loopback for tests, signed
// with keys made in the test, the way Sigstore publishes its trusted root.
package tuftest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Repo is a TUF repository being served.
type Repo struct {
	// URL is the repository's base URL (http://127.0.0.1:PORT).
	URL string
	// Root is the repository's root.json, the client's root of trust.
	Root []byte

	mu      sync.Mutex
	files   map[string][]byte
	srv     *httptest.Server
	offline bool
}

// Serve publishes targets (name → content) in a new repository, with
// consistent snapshots as Sigstore's repository has them.
func Serve(t testing.TB, targets map[string][]byte) *Repo {
	t.Helper()
	expires := time.Now().Add(24 * time.Hour)
	root := metadata.Root(expires)
	tgts := metadata.Targets(expires)
	snap := metadata.Snapshot(expires)
	ts := metadata.Timestamp(expires)
	r := &Repo{files: map[string][]byte{}}
	for name, data := range targets {
		tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
		if err != nil {
			t.Fatal(err)
		}
		tgts.Signed.Targets[name] = tf
		sum := sha256.Sum256(data)
		r.files["/targets/"+hex.EncodeToString(sum[:])+"."+name] = data
	}
	signers := map[string]signature.Signer{}
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			t.Fatal(err)
		}
		if signers[role], err = signature.LoadSigner(priv, crypto.Hash(0)); err != nil {
			t.Fatal(err)
		}
	}
	put := func(path string, sign func(signature.Signer) error, role string, bytes func(bool) ([]byte, error)) {
		if err := sign(signers[role]); err != nil {
			t.Fatal(err)
		}
		b, err := bytes(false)
		if err != nil {
			t.Fatal(err)
		}
		r.files[path] = b
	}
	put("/1.targets.json", func(s signature.Signer) error { _, err := tgts.Sign(s); return err }, "targets", tgts.ToBytes)
	put("/1.snapshot.json", func(s signature.Signer) error { _, err := snap.Sign(s); return err }, "snapshot", snap.ToBytes)
	put("/timestamp.json", func(s signature.Signer) error { _, err := ts.Sign(s); return err }, "timestamp", ts.ToBytes)
	put("/1.root.json", func(s signature.Signer) error { _, err := root.Sign(s); return err }, "root", root.ToBytes)
	r.Root = r.files["/1.root.json"]

	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		b, ok := r.files[req.URL.Path]
		offline := r.offline
		r.mu.Unlock()
		if offline {
			http.Error(w, "offline", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(r.srv.Close)
	r.URL = r.srv.URL
	return r
}

// Offline makes every request fail, as a machine without network sees it.
func (r *Repo) Offline() {
	r.mu.Lock()
	r.offline = true
	r.mu.Unlock()
}

// Tamper replaces a target's content without re-signing the metadata.
func (r *Repo) Tamper(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.files {
		if strings.HasSuffix(p, "."+name) && strings.HasPrefix(p, "/targets/") {
			r.files[p] = data
			return
		}
	}
	panic(fmt.Sprintf("no target %s", name))
}
