package admission

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/customs-dev/customs/result"
)

// The Redis keys of the Harbor jobs the replicas share.
const (
	harborStream      = "customs:harbor:jobs"
	harborGroup       = "customs"
	harborJobKey      = "customs:harbor:job:"
	harborArtifactKey = "customs:harbor:artifact:"
)

// harborShared keeps Harbor's scan jobs in Redis, so that any replica
// answers any poll and one replica runs each job: a stream with a consumer
// group is the queue, and a job whose replica died is claimed by another
// after the visibility timeout (XAUTOCLAIM). The registry credentials of a
// request never leave the replica that accepted it: the stream entry says
// only whether there were some. A replica that claims an orphaned job
// pulls with its own keychain.
type harborShared struct {
	client     *redis.Client
	consumer   string
	visibility time.Duration
	// creds are the credentials of the jobs this replica accepted.
	creds sync.Map // job id → authorization
	// running are the jobs this replica runs now.
	running sync.Map // job id → struct{}
}

// sharedJob is a job's record in Redis.
type sharedJob struct {
	State    string         `json:"state"` // queued, running, done, failed
	Artifact harborArtifact `json:"artifact"`
	Registry string         `json:"registry"`
	Error    string         `json:"error,omitempty"`
	// Report is the vulnerability report, Raw customs' JSON, SBOMs the
	// SBOM documents by media type.
	Report json.RawMessage            `json:"report,omitempty"`
	Raw    json.RawMessage            `json:"raw,omitempty"`
	SBOMs  map[string]json.RawMessage `json:"sboms,omitempty"`
}

// artifactKey names a scan request's artifact and credentials (hashed):
// requests that name the same are the same job.
func artifactKey(u *url.URL, authorization string, a harborArtifact) string {
	credHash := sha256.Sum256([]byte(authorization))
	sum := sha256.Sum256([]byte(u.Host + "\x00" + a.Repository + "\x00" + a.Digest + "\x00" + hex.EncodeToString(credHash[:])))
	return hex.EncodeToString(sum[:])
}

func newHarborShared(client *redis.Client, visibility time.Duration) *harborShared {
	var b [8]byte
	rand.Read(b[:])
	return &harborShared{client: client, consumer: "customs-" + hex.EncodeToString(b[:]), visibility: visibility}
}

func (h *harborShared) put(ctx context.Context, id string, j *sharedJob) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return h.client.Set(ctx, harborJobKey+id, b, harborJobTTL).Err()
}

func (h *harborShared) get(ctx context.Context, id string) (*sharedJob, error) {
	b, err := h.client.Get(ctx, harborJobKey+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j sharedJob
	return &j, json.Unmarshal(b, &j)
}

// submit enqueues a scan, or returns the job of the same artifact (and the
// same credentials) that any replica accepted within the hour.
func (h *harborShared) submit(ctx context.Context, u *url.URL, authorization string, a harborArtifact) (string, error) {
	if err := h.client.XGroupCreateMkStream(ctx, harborStream, harborGroup, "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return "", err
	}
	akey := harborArtifactKey + artifactKey(u, authorization, a)
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ok, err := h.client.SetNX(ctx, akey, id, harborJobTTL).Result()
	if err != nil {
		return "", err
	}
	if !ok {
		return h.client.Get(ctx, akey).Result()
	}
	if err := h.put(ctx, id, &sharedJob{State: "queued", Artifact: a, Registry: u.String()}); err != nil {
		return "", err
	}
	if authorization != "" {
		h.creds.Store(id, authorization)
	}
	auth := "0"
	if authorization != "" {
		auth = "1"
	}
	_, err = h.client.XAdd(ctx, &redis.XAddArgs{Stream: harborStream, Values: map[string]any{
		"id": id, "registry": u.String(), "repository": a.Repository, "digest": a.Digest, "tag": a.Tag, "mime_type": a.MimeType, "auth": auth, "artifact": akey,
	}}).Result()
	return id, err
}

// work runs this replica's share of the queue until the server closes:
// new entries it can run (those it accepted, and those that need no
// credentials), entries it accepted that another replica read first
// (claimed back at once), and entries idle past the visibility timeout
// (their replica died).
func (s *Server) work(h *harborShared) {
	defer s.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	h.client.XGroupCreateMkStream(s.base, harborStream, harborGroup, "0")
	lastClaim := time.Time{}
	for {
		select {
		case <-s.base.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(s.base, 5*time.Second)
		streams, err := h.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: harborGroup, Consumer: h.consumer, Streams: []string{harborStream, ">"}, Count: 8, Block: -1}).Result()
		if err == nil {
			for _, st := range streams {
				for _, m := range st.Messages {
					s.maybeRun(h, m, false)
				}
			}
		}
		s.claimBack(ctx, h)
		if time.Since(lastClaim) > h.visibility/2 {
			lastClaim = time.Now()
			if msgs, _, err := h.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: harborStream, Group: harborGroup, Consumer: h.consumer, MinIdle: h.visibility, Start: "0-0", Count: 8}).Result(); err == nil {
				for _, m := range msgs {
					s.maybeRun(h, m, true)
				}
			}
		}
		cancel()
	}
}

// claimBack claims the entries of the jobs this replica accepted that
// another replica read (and left, without the credentials to run them).
func (s *Server) claimBack(ctx context.Context, h *harborShared) {
	waiting := false
	h.creds.Range(func(k, _ any) bool {
		_, busy := h.running.Load(k)
		waiting = waiting || !busy
		return !waiting
	})
	if !waiting {
		return
	}
	pending, err := h.client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: harborStream, Group: harborGroup, Start: "-", End: "+", Count: 256}).Result()
	if err != nil {
		return
	}
	for _, p := range pending {
		if p.Consumer == h.consumer {
			continue
		}
		msgs, err := h.client.XRange(ctx, harborStream, p.ID, p.ID).Result()
		if err != nil || len(msgs) == 0 {
			continue
		}
		id, _ := msgs[0].Values["id"].(string)
		if _, mine := h.creds.Load(id); !mine {
			continue
		}
		if claimed, err := h.client.XClaim(ctx, &redis.XClaimArgs{Stream: harborStream, Group: harborGroup, Consumer: h.consumer, Messages: []string{p.ID}}).Result(); err == nil {
			for _, m := range claimed {
				s.maybeRun(h, m, false)
			}
		}
	}
}

// maybeRun runs an entry this replica may run: one it accepted, one that
// needs no credentials, or an orphan (whose credentials died with its
// replica: it pulls with its own keychain).
func (s *Server) maybeRun(h *harborShared, m redis.XMessage, orphan bool) {
	id, _ := m.Values["id"].(string)
	if id == "" {
		h.client.XAck(s.base, harborStream, harborGroup, m.ID)
		return
	}
	auth, mine := h.creds.Load(id)
	if m.Values["auth"] == "1" && !mine && !orphan {
		return // its replica claims it back
	}
	if _, busy := h.running.LoadOrStore(id, struct{}{}); busy {
		return
	}
	authorization, _ := auth.(string)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer h.running.Delete(id)
		s.runShared(h, m, id, authorization)
	}()
}

// runShared runs one job, keeps its entry from looking idle while it runs,
// records its report (retrying while Redis is away) and acknowledges it.
func (s *Server) runShared(h *harborShared, m redis.XMessage, id, authorization string) {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	a := harborArtifact{Repository: str("repository"), Digest: str("digest"), Tag: str("tag"), MimeType: str("mime_type")}
	u, err := url.Parse(str("registry"))
	if err != nil {
		h.client.XAck(s.base, harborStream, harborGroup, m.ID)
		return
	}
	h.put(s.base, id, &sharedJob{State: "running", Artifact: a, Registry: u.String()})
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(h.visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				h.client.XClaimJustID(s.base, &redis.XClaimArgs{Stream: harborStream, Group: harborGroup, Consumer: h.consumer, Messages: []string{m.ID}})
			}
		}
	}()
	res, sboms, runErr := s.harborRun(u, authorization, a)
	close(stop)
	job := s.finishedJob(a, u, res, sboms, runErr)
	for s.base.Err() == nil {
		ctx, cancel := context.WithTimeout(s.base, 5*time.Second)
		err := h.put(ctx, id, job)
		if err == nil {
			if runErr != nil {
				// Harbor asks again after a failure: a new job, not this one.
				h.client.Del(ctx, str("artifact"))
			}
			h.client.XAck(ctx, harborStream, harborGroup, m.ID)
			h.client.XDel(ctx, harborStream, m.ID)
			h.creds.Delete(id)
			cancel()
			return
		}
		cancel()
		s.logger.Warn("recording a Harbor report in Redis failed; retrying", "job", id, "error", err)
		time.Sleep(500 * time.Millisecond)
	}
}

// rematchShared matches the finished Harbor reports kept in Redis against
// a new revision of the database, once for all the replicas (the first
// to take the revision's lock does it).
func (s *Server) rematchShared(ctx context.Context, h *harborShared, revision string, now time.Time) {
	if ok, err := h.client.SetNX(ctx, "customs:harbor:rematched:"+revision, h.consumer, harborJobTTL).Result(); err != nil || !ok {
		return
	}
	iter := h.client.Scan(ctx, 0, harborJobKey+"*", 100).Iterator()
	n := 0
	for iter.Next(ctx) {
		id := strings.TrimPrefix(iter.Val(), harborJobKey)
		j, err := h.get(ctx, id)
		if err != nil || j == nil || j.State != "done" || len(j.Raw) == 0 {
			continue
		}
		old, err := result.Parse("the report of job "+id, j.Raw)
		if err != nil {
			continue
		}
		res, err := s.rematchResult(ctx, old, now)
		if err != nil {
			s.logger.Warn("could not match a Harbor report again", "job", id, "error", err)
			continue
		}
		j.Report, _ = json.Marshal(harborVulnerabilityReport(res, j.Artifact, s.harborScanner(), now))
		j.Raw, _ = json.Marshal(res)
		if h.put(ctx, id, j) == nil {
			n++
		}
	}
	s.logger.Info("matched the shared Harbor reports again", "revision", revision, "reports", n)
}
