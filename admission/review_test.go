package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/customs-dev/customs/internal/testimage"
)

// fakeDecisions stands in for Decide in the review tests, which are about
// reading AdmissionReviews and answering them: images whose name contains
// "bad" are denied. The decisions themselves are tested end to end.
type fakeDecisions struct {
	mu   sync.Mutex
	seen []string
}

func (f *fakeDecisions) decide(_ context.Context, image, namespace string) *Decision {
	f.mu.Lock()
	f.seen = append(f.seen, image)
	f.mu.Unlock()
	if strings.Contains(image, "bad") {
		return &Decision{Image: image, Reasons: []string{"signature verification failed: no signature found"}}
	}
	return &Decision{Image: image, Allowed: true, Warnings: []string{"1 vulnerabilities below the threshold"}}
}

func newTestServer(t *testing.T, policy string) *Server {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(p, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{PolicyFile: p, DB: filepath.Join(testimage.Root(), "testdata", "osv-demo")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const allowUnsigned = "version: 1\nimages:\n  - pattern: '**'\n    allow-unsigned: true\nexempt-namespaces: [kube-system]\n"

func podSpecWith(images ...string) corev1.PodSpec {
	var spec corev1.PodSpec
	for i, img := range images {
		switch i % 3 {
		case 0:
			spec.Containers = append(spec.Containers, corev1.Container{Name: "c" + img[len(img)-1:], Image: img})
		case 1:
			spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: "init", Image: img})
		case 2:
			spec.EphemeralContainers = append(spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: img}})
		}
	}
	return spec
}

func template(spec corev1.PodSpec) corev1.PodTemplateSpec { return corev1.PodTemplateSpec{Spec: spec} }

// workload builds an object of a kind with a pod template of images.
func workload(kind string, images ...string) (runtime.Object, metav1.GroupVersionKind) {
	spec := podSpecWith(images...)
	switch kind {
	case "Pod":
		return &corev1.Pod{Spec: spec}, metav1.GroupVersionKind{Version: "v1", Kind: kind}
	case "Deployment":
		return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}
	case "ReplicaSet":
		return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}
	case "StatefulSet":
		return &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}
	case "DaemonSet":
		return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}
	case "Job":
		return &batchv1.Job{Spec: batchv1.JobSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: kind}
	case "CronJob":
		return &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(spec)}}}}, metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: kind}
	case "ReplicationController":
		tpl := template(spec)
		return &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &tpl}}, metav1.GroupVersionKind{Version: "v1", Kind: kind}
	}
	panic(kind)
}

func review(uid string, op admissionv1.Operation, kind metav1.GroupVersionKind, ns string, obj, old runtime.Object) []byte {
	req := &admissionv1.AdmissionRequest{UID: k8stypes.UID("uid-" + uid), Kind: kind, Operation: op, Namespace: ns}
	if obj != nil {
		req.Object.Raw, _ = json.Marshal(obj)
	}
	if old != nil {
		req.OldObject.Raw, _ = json.Marshal(old)
	}
	b, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	return b
}

func post(t *testing.T, h http.Handler, path string, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionReview) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s answered what is not an AdmissionReview: %v\n%s", path, err, rec.Body)
	}
	return rec, &out
}

// TestValidateReviews answers AdmissionReviews of every workload kind, with
// containers, init containers and ephemeral containers.
func TestValidateReviews(t *testing.T) {
	s := newTestServer(t, allowUnsigned)
	f := &fakeDecisions{}
	s.decider = f.decide
	h := s.Handler()
	for _, kind := range []string{"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"} {
		t.Run(kind, func(t *testing.T) {
			obj, gvk := workload(kind, "reg.example/app:1", "reg.example/init:1", "reg.example/bad-debug:1")
			_, out := post(t, h, "/validate", review(kind, admissionv1.Create, gvk, "prod", obj, nil))
			if out == nil || out.Response == nil {
				t.Fatal("no AdmissionReview response")
			}
			r := out.Response
			if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || string(r.UID) != "uid-"+kind {
				t.Errorf("response does not echo the request: %s %s uid %q", out.APIVersion, out.Kind, r.UID)
			}
			// The ephemeral container's image is the bad one: it must be seen.
			if r.Allowed || r.Result == nil || r.Result.Code != 403 || !strings.Contains(r.Result.Message, "reg.example/bad-debug:1 (container debug): signature verification failed") {
				t.Errorf("want a denial naming the ephemeral container's image and reason, got allowed=%v %+v", r.Allowed, r.Result)
			}
			if len(r.Warnings) != 2 {
				t.Errorf("want a warning for each allowed image, got %q", r.Warnings)
			}
			obj, gvk = workload(kind, "reg.example/app:1", "reg.example/init:1")
			_, out = post(t, h, "/validate", review(kind, admissionv1.Create, gvk, "prod", obj, nil))
			if !out.Response.Allowed {
				t.Errorf("good images denied: %+v", out.Response.Result)
			}
		})
	}
}

// TestValidateUpdateDeleteAndBadRequests covers UPDATE (only new or changed
// images are checked), DELETE, exempt namespaces and requests that cannot
// be reviewed.
func TestValidateUpdateDeleteAndBadRequests(t *testing.T) {
	s := newTestServer(t, allowUnsigned)
	f := &fakeDecisions{}
	s.decider = f.decide
	h := s.Handler()

	// An UPDATE that keeps a bad image it already had (say, scaling) and
	// changes another: only the changed one is decided.
	old, gvk := workload("Deployment", "reg.example/bad-legacy:1", "reg.example/app:1")
	obj, _ := workload("Deployment", "reg.example/bad-legacy:1", "reg.example/app:2")
	_, out := post(t, h, "/validate", review("u", admissionv1.Update, gvk, "prod", obj, old))
	if !out.Response.Allowed || !slices.Equal(f.seen, []string{"reg.example/app:2"}) {
		t.Errorf("UPDATE: allowed=%v, decided %q; want only the changed image decided", out.Response.Allowed, f.seen)
	}
	f.seen = nil
	obj, _ = workload("Deployment", "reg.example/bad-legacy:1", "reg.example/bad-new:1")
	_, out = post(t, h, "/validate", review("u2", admissionv1.Update, gvk, "prod", obj, old))
	if out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "bad-new") || strings.Contains(out.Response.Result.Message, "bad-legacy") {
		t.Errorf("UPDATE adding a bad image: %+v", out.Response.Result)
	}

	f.seen = nil
	_, out = post(t, h, "/validate", review("d", admissionv1.Delete, gvk, "prod", nil, old))
	if !out.Response.Allowed || string(out.Response.UID) != "uid-d" || len(f.seen) != 0 {
		t.Errorf("DELETE: allowed=%v uid=%q decided %q", out.Response.Allowed, out.Response.UID, f.seen)
	}

	// Exempt namespaces are decided by the real Decide: allowed, unchecked.
	s.decider = s.Decide
	obj, gvk = workload("Pod", "reg.example/bad:1")
	_, out = post(t, h, "/validate", review("k", admissionv1.Create, gvk, "kube-system", obj, nil))
	if !out.Response.Allowed || len(out.Response.Warnings) == 0 || !strings.Contains(out.Response.Warnings[0], "exempt") {
		t.Errorf("exempt namespace: %+v", out.Response)
	}
	s.decider = f.decide

	// An unknown kind is refused with a reason, as a response.
	_, out = post(t, h, "/validate", review("x", admissionv1.Create, metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, "prod", &corev1.Pod{}, nil))
	if out == nil || out.Response.Allowed || out.Response.Result.Code != 400 || !strings.Contains(out.Response.Result.Message, "Widget") {
		t.Errorf("unknown kind: %+v", out)
	}
	// An object that is not what its kind says.
	bad := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"b","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":"nope"}}}}`)
	_, out = post(t, h, "/validate", bad)
	if out == nil || out.Response.Allowed || !strings.Contains(out.Response.Result.Message, "decoding the Pod") {
		t.Errorf("malformed object: %+v", out)
	}

	for name, body := range map[string]string{
		"not JSON":      `{"apiVersion": `,
		"no request":    `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		"no uid":        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{}}}`,
		"v1beta1":       `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`,
		"huge":          `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":"` + strings.Repeat("a", defaultMaxReviewSize) + `"}}`,
		"wrong types":   `{"request":{"uid":7}}`,
		"empty":         ``,
		"array":         `[]`,
		"null request":  `{"request":null}`,
		"deep nesting":  strings.Repeat("[", 100000),
		"binary":        "\x00\x01\x02",
		"object string": `{"apiVersion":"admission.k8s.io/v1","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"CREATE","object":"text"}}`,
	} {
		rec, _ := post(t, h, "/validate", []byte(body))
		if name == "object string" {
			// Decodes as a review; the object is refused in the response.
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"allowed":false`) {
				t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
			}
			continue
		}
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", name, rec.Code, rec.Body)
		}
		if name == "huge" && !strings.Contains(rec.Body.String(), "the server's max-request-size setting") {
			t.Errorf("huge: the answer does not name the setting: %s", rec.Body)
		}
	}
}

// TestMutatePinsDigests checks the JSON patch /mutate answers: it leaves
// digests alone and, for a tag it cannot resolve, patches nothing and warns.
func TestMutatePinsDigests(t *testing.T) {
	s := newTestServer(t, allowUnsigned)
	const dg = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	s.tags.put("reg.example/app:1", dg, s.now().Add(3600e9))
	obj, gvk := workload("CronJob", "reg.example/app:1", "reg.example/init@"+dg, "127.0.0.1:1/gone:1")
	_, out := post(t, s.Handler(), "/mutate", review("m", admissionv1.Create, gvk, "prod", obj, nil))
	if out == nil || !out.Response.Allowed || out.Response.PatchType == nil || *out.Response.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("mutate: %+v", out)
	}
	var patch []map[string]string
	json.Unmarshal(out.Response.Patch, &patch)
	want := []map[string]string{{"op": "replace", "path": "/spec/jobTemplate/spec/template/spec/containers/0/image", "value": "reg.example/app:1@" + dg}}
	if len(patch) != 1 || patch[0]["path"] != want[0]["path"] || patch[0]["value"] != want[0]["value"] {
		t.Errorf("patch %v, want %v", patch, want)
	}
	if len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "127.0.0.1:1/gone:1 not pinned") {
		t.Errorf("warnings %q", out.Response.Warnings)
	}
}
