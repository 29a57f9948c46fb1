package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/customs-dev/customs/admission"
	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/pull"
)

// BenchmarkAdmission measures customs serve over HTTPS on loopback: the
// latency of the first decision on a small signed image in a real local
// registry (cold: resolve, verify, pull, SBOM, match), then an open-loop
// load of 500 requests per second for 5 s on /v1/check and on /validate
// (a Pod of two containers) with the decisions cached. Target: p99 under
// 5 ms warm.
func BenchmarkAdmission(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Options{})
	dir := b.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(filepath.Join(dir, "cosign.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte(fmt.Sprintf("version: 1\nimages:\n  - pattern: %s/**\n    authorities: [{key: cosign.pub}]\n    insecure-ignore-tlog: true\n", reg.Host)), 0o644)
	repo := reg.Host + "/app"
	var images []string
	for i := range 7 {
		tag := fmt.Sprint(i)
		d := signtest.Push(b, repo+":"+tag, signtest.Image(b))
		signtest.SignTag(b, repo, d, signtest.Payload(repo, d), key, nil)
		images = append(images, repo+":"+tag)
	}
	store, err := cas.Open(filepath.Join(dir, "cache"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := admission.New(admission.Config{
		PolicyFile: policy,
		DB:         filepath.Join(testimage.Root(), "testdata", "osv-demo"),
		Pull:       pull.Options{Cache: store},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.EnableHTTP2 = false
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 256

	checkBody := func(img string) []byte { b, _ := json.Marshal(admission.CheckRequest{Image: img}); return b }
	post := func(path string, body []byte) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Post(srv.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return time.Since(start), nil
	}

	// Cold: the first decision on each of five images (the first image
	// also warms what every scan shares, such as the database index).
	if _, err := post("/v1/check", checkBody(images[6])); err != nil {
		b.Fatal(err)
	}
	var cold []time.Duration
	for _, img := range images[:5] {
		d, err := post("/v1/check", checkBody(img))
		if err != nil {
			b.Fatal(err)
		}
		cold = append(cold, d)
	}
	sort.Slice(cold, func(i, j int) bool { return cold[i] < cold[j] })

	pod, _ := json.Marshal(corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: images[0]}, {Name: "b", Image: images[1]}}}})
	review, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Operation: admissionv1.Create, Namespace: "prod", Object: runtime.RawExtension{Raw: pod}},
	})
	type load struct {
		p50, p99, max time.Duration
		rps           float64
		errors        int
	}
	run := func(path string, body []byte) load {
		const rate, dur = 500, 5 * time.Second
		n := int(rate * dur / time.Second)
		lat := make([]time.Duration, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			// Open loop: each request leaves at its time, whether or not
			// the ones before have been answered.
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
			wg.Go(func() { lat[i], errs[i] = post(path, body) })
		}
		wg.Wait()
		elapsed := time.Since(start)
		var l load
		var ok []time.Duration
		for i := range n {
			if errs[i] != nil {
				l.errors++
				continue
			}
			ok = append(ok, lat[i])
		}
		sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
		if len(ok) > 0 {
			l.p50, l.p99, l.max = ok[len(ok)/2], ok[len(ok)*99/100], ok[len(ok)-1]
		}
		l.rps = float64(len(ok)) / elapsed.Seconds()
		return l
	}
	// Warm the connection pool and the decisions.
	post("/validate", review)
	for range 50 {
		post("/v1/check", checkBody(images[0]))
	}
	b.ResetTimer()
	var check, validate load
	for range b.N {
		check = run("/v1/check", checkBody(images[0]))
		validate = run("/validate", review)
	}
	b.StopTimer()
	b.ReportMetric(float64(check.p99.Microseconds())/1000, "check-p99-ms")
	b.ReportMetric(float64(validate.p99.Microseconds())/1000, "validate-p99-ms")
	b.Logf("\ncold /v1/check of a small signed image (5 images): min %s, median %s, max %s\n"+
		"warm /v1/check at 500 req/s for 5 s: %.0f req/s answered, p50 %s, p99 %s, max %s, %d errors\n"+
		"warm /validate (Pod, 2 images) at 500 req/s for 5 s: %.0f req/s answered, p50 %s, p99 %s, max %s, %d errors",
		cold[0].Round(time.Millisecond), cold[2].Round(time.Millisecond), cold[4].Round(time.Millisecond),
		check.rps, check.p50.Round(time.Microsecond), check.p99.Round(time.Microsecond), check.max.Round(time.Microsecond), check.errors,
		validate.rps, validate.p50.Round(time.Microsecond), validate.p99.Round(time.Microsecond), validate.max.Round(time.Microsecond), validate.errors)
}
