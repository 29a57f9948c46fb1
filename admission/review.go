package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultMaxReviewSize bounds an AdmissionReview body; the API server's own limit
// for an object is 3 MiB, and a review carries the object and its old self.
const defaultMaxReviewSize = 7 << 20

// container is one image reference in a workload.
type container struct {
	// Path is the JSON pointer of the image field, for patches.
	Path  string
	Name  string
	Image string
}

// podSpec finds the pod template of a workload object and the JSON pointer
// at which it sits. ok is false for kinds that have none.
func podSpec(kind string, raw []byte) (spec *corev1.PodSpec, at string, ok bool, err error) {
	switch kind {
	case "Pod":
		var o corev1.Pod
		err = json.Unmarshal(raw, &o)
		return &o.Spec, "/spec", true, err
	case "Deployment":
		var o appsv1.Deployment
		err = json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", true, err
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		err = json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", true, err
	case "StatefulSet":
		var o appsv1.StatefulSet
		err = json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", true, err
	case "DaemonSet":
		var o appsv1.DaemonSet
		err = json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", true, err
	case "Job":
		var o batchv1.Job
		err = json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", true, err
	case "CronJob":
		var o batchv1.CronJob
		err = json.Unmarshal(raw, &o)
		return &o.Spec.JobTemplate.Spec.Template.Spec, "/spec/jobTemplate/spec/template/spec", true, err
	case "ReplicationController":
		var o corev1.ReplicationController
		err = json.Unmarshal(raw, &o)
		if o.Spec.Template == nil {
			return &corev1.PodSpec{}, "/spec/template/spec", true, err
		}
		return &o.Spec.Template.Spec, "/spec/template/spec", true, err
	}
	return nil, "", false, nil
}

// containers lists the images of a pod spec: containers, init containers
// and ephemeral containers.
func containers(spec *corev1.PodSpec, at string) []container {
	var out []container
	for i, c := range spec.InitContainers {
		out = append(out, container{fmt.Sprintf("%s/initContainers/%d/image", at, i), c.Name, c.Image})
	}
	for i, c := range spec.Containers {
		out = append(out, container{fmt.Sprintf("%s/containers/%d/image", at, i), c.Name, c.Image})
	}
	for i, c := range spec.EphemeralContainers {
		out = append(out, container{fmt.Sprintf("%s/ephemeralContainers/%d/image", at, i), c.Name, c.Image})
	}
	return out
}

// reviewError is a request that cannot be reviewed at all.
type reviewError struct{ msg string }

func (e *reviewError) Error() string { return e.msg }

// readReview decodes and checks an AdmissionReview request.
func readReview(r *http.Request, max int64) (*admissionv1.AdmissionReview, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, &reviewError{fmt.Sprintf("content type %q: send application/json", ct)}
	}
	var review admissionv1.AdmissionReview
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, max))
	if err := dec.Decode(&review); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &reviewError{fmt.Sprintf("the AdmissionReview is larger than the limit of %d bytes (the server's max-request-size setting)", max)}
		}
		return nil, &reviewError{"the body is not an AdmissionReview: " + err.Error()}
	}
	switch {
	case review.Request == nil:
		return nil, &reviewError{"the AdmissionReview has no request"}
	case review.Request.UID == "":
		return nil, &reviewError{"the AdmissionReview request has no uid"}
	case review.APIVersion != "admission.k8s.io/v1":
		return nil, &reviewError{fmt.Sprintf("apiVersion %q: customs answers admission.k8s.io/v1 (set admissionReviewVersions: [v1] in the webhook configuration)", review.APIVersion)}
	}
	return &review, nil
}

// reviewResponse makes the response that echoes the request.
func reviewResponse(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionReview {
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true},
	}
}

func deny(resp *admissionv1.AdmissionResponse, code int32, msg string) {
	resp.Allowed = false
	resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReasonForbidden, Message: msg}
	if code != http.StatusForbidden {
		resp.Result.Reason = metav1.StatusReasonBadRequest
	}
}

// images finds the images a request asks to run, and on UPDATE only those
// that are new or changed.
func images(req *admissionv1.AdmissionRequest) ([]container, string, error) {
	kind := req.Kind.Kind
	spec, at, ok, err := podSpec(kind, req.Object.Raw)
	if !ok {
		return nil, "", &reviewError{fmt.Sprintf("customs does not know where %s %s keeps its images: remove it from the webhook's rules, or ask for it to be supported", req.Kind.Group, kind)}
	}
	if err != nil || len(req.Object.Raw) == 0 {
		if err == nil {
			err = errors.New("the request has no object")
		}
		return nil, "", &reviewError{fmt.Sprintf("decoding the %s: %v", kind, err)}
	}
	cs := containers(spec, at)
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old, oldAt, _, err := podSpec(kind, req.OldObject.Raw)
		if err != nil {
			return nil, "", &reviewError{fmt.Sprintf("decoding the old %s: %v", kind, err)}
		}
		had := map[string]bool{}
		for _, c := range containers(old, oldAt) {
			had[c.Image] = true
		}
		var changed []container
		for _, c := range cs {
			if !had[c.Image] {
				changed = append(changed, c)
			}
		}
		cs = changed
	}
	return cs, at, nil
}

// decided says whether a request's operation runs images that must be
// decided. DELETE and CONNECT run nothing new and are allowed; any other
// operation (missing, misspelt, lower case) is denied with the reason.
func decided(req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) bool {
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		return true
	case admissionv1.Delete, admissionv1.Connect:
		return false
	}
	deny(resp, http.StatusBadRequest, fmt.Sprintf("operation %q: customs decides CREATE and UPDATE and allows DELETE and CONNECT; it denies what it does not know", req.Operation))
	return false
}

// validate answers a validating AdmissionReview.
func (s *Server) validate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionReview {
	out := reviewResponse(req)
	resp := out.Response
	if !decided(req, resp) {
		return out
	}
	cs, _, err := images(req)
	if err != nil {
		deny(resp, http.StatusBadRequest, err.Error())
		return out
	}
	// One decision per distinct image, all within the same budget.
	distinct := map[string][]string{}
	for _, c := range cs {
		distinct[c.Image] = append(distinct[c.Image], c.Name)
	}
	refs := make([]string, 0, len(distinct))
	for img := range distinct {
		refs = append(refs, img)
	}
	sort.Strings(refs)
	decisions := make([]*Decision, len(refs))
	var wg sync.WaitGroup
	for i, img := range refs {
		wg.Go(func() { decisions[i] = s.decider(ctx, img, req.Namespace) })
	}
	wg.Wait()
	var denied []string
	for i, d := range decisions {
		shown := redactCredentials(refs[i])
		if !d.Allowed {
			denied = append(denied, fmt.Sprintf("image %s (container %s): %s", shown, strings.Join(distinct[refs[i]], ", "), strings.Join(d.Reasons, "; ")))
		}
		for _, w := range d.Warnings {
			resp.Warnings = append(resp.Warnings, shown+": "+w)
		}
	}
	if len(denied) > 0 {
		deny(resp, http.StatusForbidden, "customs denied "+strings.Join(denied, " | "))
	}
	return out
}

// mutate pins each image to the digest its tag resolves to, the digest
// that validation then verifies.
func (s *Server) mutate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionReview {
	out := reviewResponse(req)
	resp := out.Response
	if !decided(req, resp) {
		return out
	}
	st := s.state.Load()
	if st == nil || st.policy == nil || st.policy.Exempt(req.Namespace) {
		// Without a policy validation denies; nothing is pinned.
		return out
	}
	cs, _, err := images(req)
	if err != nil {
		deny(resp, http.StatusBadRequest, err.Error())
		return out
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	var patch []op
	for _, c := range cs {
		if shown := redactCredentials(c.Image); shown != c.Image {
			// Validation denies it; nothing that holds credentials is sent
			// to a registry or echoed.
			resp.Warnings = append(resp.Warnings, shown+" not pinned to a digest: the reference holds credentials")
			continue
		}
		pinned, err := s.pin(ctx, st.policy, c.Image)
		if err != nil {
			// Validation denies what cannot be resolved; mutation only says so.
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("%s not pinned to a digest: %v", c.Image, err))
			continue
		}
		if pinned != c.Image {
			patch = append(patch, op{"replace", c.Path, pinned})
		}
	}
	if len(patch) > 0 {
		b, _ := json.Marshal(patch)
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = b, &pt
	}
	return out
}
