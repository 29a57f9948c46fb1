package admission

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// syncBuffer is a log sink the server's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsInLogs runs the server at debug level against a registry
// that needs a password, with a bearer token and a Redis URL with a
// password, through allowed, denied, failed and unauthenticated requests;
// neither the logs nor any response carries a credential.
func TestNoSecretsInLogs(t *testing.T) {
	const (
		user, password = "ci-robot", "registry-pa55word-XYZ"
		token          = "bearer-t0ken-QQQ"
		redisPassword  = "redis-pa55-777"
	)
	reg := registrytest.Start(t, registrytest.Options{User: user, Password: password})
	kc := authn.NewMultiKeychain(staticKeychain{reg.Host, &authn.Basic{Username: user, Password: password}})
	repo := reg.Host + "/private/app"
	ref, _ := name.ParseReference(repo+":1", name.Insecure)
	if err := remote.Write(ref, signtest.Image(t), remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	f := newFixture(t, "version: 1\nimages:\n  - pattern: "+reg.Host+"/private/**\n    allow-unsigned: true\n")
	cfg := f.config()
	cfg.Pull.Keychain = kc
	cfg.Token = token
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Redis that is not there: its URL (with password) must not be logged.
	store, err := OpenRedis("redis://:"+redisPassword+"@127.0.0.1:1/0", 50e6)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = store
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	var responses strings.Builder
	do := func(auth, image string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/check", strings.NewReader(fmt.Sprintf(`{"image": %q}`, image)))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(rec, req)
		fmt.Fprintf(&responses, "%d %v %s\n", rec.Code, rec.Header(), rec.Body)
	}
	do("Bearer "+token, repo+":1")                     // allowed
	do("Bearer "+token, reg.Host+"/private/missing:1") // registry error
	do("Bearer "+token, reg.Host+"/elsewhere/app:1")   // denied by the policy
	// Credentials in an image reference, in every form: none is echoed.
	withCredentials := []string{
		"https://" + user + ":" + password + "@x/y:1",
		user + ":" + password + "@x/y:1",
		user + ":" + password + "@" + repo + ":1",
		password + "@" + reg.Host + "/private/app@sha256:0000000000000000000000000000000000000000000000000000000000000001",
		user + ":" + password + "@x",
	}
	for _, image := range withCredentials {
		do("Bearer "+token, image)
		obj, gvk := workload("Pod", image)
		for _, path := range []string{"/validate", "/mutate"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", path, bytes.NewReader(review("c", "CREATE", gvk, "prod", obj, nil)))
			req.Header.Set("Authorization", "Bearer "+token)
			h.ServeHTTP(rec, req)
			fmt.Fprintf(&responses, "%s %d %s\n", path, rec.Code, rec.Body)
			if path == "/validate" && !strings.Contains(rec.Body.String(), `"allowed":false`) {
				t.Errorf("/validate of an image reference with credentials was not denied: %s", rec.Body)
			}
		}
	}
	do("Bearer wrong-"+token, repo+":1") // unauthenticated
	do("Basic "+password, repo+":1")
	if !strings.Contains(responses.String(), `"allowed":true`) || !strings.Contains(responses.String(), "401") {
		t.Fatalf("the requests did not go as planned:\n%s", responses.String())
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	everything := logs.String() + responses.String() + rec.Body.String()
	if !strings.Contains(logs.String(), "shared decision cache is unavailable") {
		t.Errorf("the test did not exercise the Redis failure log:\n%s", logs.String())
	}
	for _, secret := range []string{password, token, redisPassword} {
		if strings.Contains(everything, secret) {
			i := strings.Index(everything, secret)
			t.Errorf("secret %q appears: …%s…", secret, everything[max(0, i-200):min(len(everything), i+100)])
		}
	}
}

type staticKeychain struct {
	host string
	auth authn.Authenticator
}

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}
