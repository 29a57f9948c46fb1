package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/customs-dev/customs/internal/hint"
)

// Store keeps decisions by key until they expire. The key names the whole
// question a decision answers (repository, digest, trust-policy entry,
// rule, policy hash, database revision; see question), never a digest
// alone.
type Store interface {
	Get(ctx context.Context, key string) (*Decision, error) // nil, nil when absent
	Put(ctx context.Context, key string, d *Decision, ttl time.Duration) error
	// Ping reports whether the store answers; the server probes it in the
	// background, so that its health is known between requests.
	Ping(ctx context.Context) error
	Close() error
	// Name says what the store is, for logs and metrics.
	Name() string
}

type entry struct {
	Expires  time.Time `json:"expires"`
	Decision *Decision `json:"decision"`
}

// memoryStore is the first level: a bounded map in memory.
type memoryStore struct {
	mu      sync.Mutex
	max     int
	entries map[string]entry
	now     func() time.Time
}

func newMemoryStore(max int, now func() time.Time) *memoryStore {
	return &memoryStore{max: max, entries: map[string]entry{}, now: now}
}

func (m *memoryStore) Name() string { return "memory" }
func (m *memoryStore) Close() error { return nil }

func (m *memoryStore) Get(_ context.Context, key string) (*Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return nil, nil
	}
	if !m.now().Before(e.Expires) {
		delete(m.entries, key)
		return nil, nil
	}
	return e.Decision, nil
}

func (m *memoryStore) Put(_ context.Context, key string, d *Decision, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.entries) >= m.max {
		// Drop what has expired; if that is not enough, drop an arbitrary
		// half (map order): the store is a cache in front of another.
		for k, e := range m.entries {
			if !now.Before(e.Expires) {
				delete(m.entries, k)
			}
		}
		for k := range m.entries {
			if len(m.entries) < m.max/2 {
				break
			}
			delete(m.entries, k)
		}
	}
	m.entries[key] = entry{Expires: now.Add(ttl), Decision: d}
	return nil
}

// boltStore keeps decisions on disk, so that they survive restarts.
type boltStore struct {
	db  *bolt.DB
	now func() time.Time
}

var bucket = []byte("decisions")

// OpenBolt opens (or creates) the decision store in dir.
func OpenBolt(dir string, now func() time.Time) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "decisions.db")
	db, err := bolt.Open(p, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, hint.New(fmt.Errorf("opening the decision cache %s: another process holds it", p),
				"cache", "give each server its own %s DIR, or share one Redis with %s redis://…")
		}
		return nil, fmt.Errorf("opening the decision cache %s: %w (remove the file to start afresh)", p, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the decision cache %s: %w", p, err)
	}
	return &boltStore{db: db, now: now}, nil
}

func (b *boltStore) Name() string { return "bbolt" }
func (b *boltStore) Close() error { return b.db.Close() }

func (b *boltStore) Ping(context.Context) error {
	return b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucket) == nil {
			return errors.New("the decisions bucket is gone")
		}
		return nil
	})
}

func (b *boltStore) Get(_ context.Context, key string) (*Decision, error) {
	var e entry
	var found bool
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(key))
		if v == nil {
			return nil
		}
		found = json.Unmarshal(v, &e) == nil && e.Decision != nil
		return nil
	})
	if err != nil || !found || !b.now().Before(e.Expires) {
		return nil, err
	}
	return e.Decision, nil
}

func (b *boltStore) Put(_ context.Context, key string, d *Decision, ttl time.Duration) error {
	v, err := json.Marshal(entry{Expires: b.now().Add(ttl), Decision: d})
	if err != nil {
		return err
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		// Expired entries go as new ones come, a few at a time.
		c := bk.Cursor()
		n := 0
		for k, v := c.First(); k != nil && n < 16; k, v = c.Next() {
			var old entry
			if json.Unmarshal(v, &old) != nil || !b.now().Before(old.Expires) {
				c.Delete()
			}
			n++
		}
		return bk.Put([]byte(key), v)
	})
}

// redisStore shares decisions between replicas.
type redisStore struct {
	client  *redis.Client
	timeout time.Duration
}

// OpenRedis connects to Redis at a redis:// or rediss:// URL. It does not
// fail when Redis is down: the server works on without it.
func OpenRedis(url string, timeout time.Duration) (Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, hint.New(fmt.Errorf("the decision cache %s: %w", redactURL(url), err), "cache", "write %s redis://[:PASSWORD@]HOST:PORT/DB")
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	opt.MaxRetries = 0
	// go-redis logs connection failures itself; the server reports them.
	redisQuiet.Do(func() { redis.SetLogger(quietLogger{}) })
	return &redisStore{client: redis.NewClient(opt), timeout: timeout}, nil
}

var redisQuiet sync.Once

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

const redisPrefix = "customs:decision:"

func (r *redisStore) Name() string { return "redis" }
func (r *redisStore) Close() error { return r.client.Close() }

func (r *redisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.client.Ping(ctx).Err()
}

func (r *redisStore) Get(ctx context.Context, key string) (*Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, err := r.client.Get(ctx, redisPrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d Decision
	if json.Unmarshal(v, &d) != nil {
		return nil, nil
	}
	return &d, nil
}

func (r *redisStore) Put(ctx context.Context, key string, d *Decision, ttl time.Duration) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.client.Set(ctx, redisPrefix+key, v, ttl).Err()
}

// tiered is memory in front of a shared or persistent store. When the
// second store fails, decisions go on from memory, and the failure is
// logged when it starts and when it ends, and counted.
type tiered struct {
	mem     *memoryStore
	next    Store
	logger  *slog.Logger
	metrics *metrics

	mu   sync.Mutex
	down bool
}

func (t *tiered) Name() string {
	if t.next == nil {
		return "memory"
	}
	return "memory+" + t.next.Name()
}

func (t *tiered) Close() error {
	if t.next == nil {
		return nil
	}
	return t.next.Close()
}

// Get returns the decision and the level that had it.
func (t *tiered) Get(ctx context.Context, key string) (*Decision, string) {
	if d, _ := t.mem.Get(ctx, key); d != nil {
		return d, "memory"
	}
	if t.next == nil {
		return nil, ""
	}
	d, err := t.next.Get(ctx, key)
	t.health(err)
	if d == nil {
		return nil, ""
	}
	t.mem.Put(ctx, key, d, time.Until(d.Expires))
	return d, t.next.Name()
}

func (t *tiered) Put(ctx context.Context, key string, d *Decision, ttl time.Duration) {
	t.mem.Put(ctx, key, d, ttl)
	if t.next != nil {
		t.health(t.next.Put(ctx, key, d, ttl))
	}
}

func (t *tiered) health(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.metrics.storeErrors.WithLabelValues(t.next.Name()).Inc()
	}
	switch {
	case err != nil && !t.down:
		t.down = true
		t.metrics.storeUp.Set(0)
		t.logger.Error("the shared decision cache is unavailable: deciding from the local cache alone until it is back", "store", t.next.Name(), "error", err)
	case err == nil && t.down:
		t.down = false
		t.metrics.storeUp.Set(1)
		t.logger.Info("the shared decision cache is back", "store", t.next.Name())
	}
}

// probe asks the second store whether it answers, bounded by its own
// timeout, and records the answer as a request's would be.
func (t *tiered) probe(ctx context.Context) {
	if t.next == nil {
		return
	}
	t.health(t.next.Ping(ctx))
}

// Degraded reports whether the second store is failing.
func (t *tiered) Degraded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.down
}

// redactURL hides the password of a URL, for messages and logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the URL"
	}
	return u.Redacted()
}
