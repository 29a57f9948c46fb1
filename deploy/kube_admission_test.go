package deploy

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/customs-dev/customs/admission"
	"github.com/customs-dev/customs/internal/signtest"
)

// The tests below put customs behind a real kube-apiserver (internal/
// kubetest), with the chart's webhook configurations. They need etcd,
// kube-apiserver and helm (.ci/run provides them) and are skipped with
// the reason otherwise.

var names atomic.Int64

// create creates a workload of kind (Pod, Deployment, Job, CronJob) with
// one container of image, and returns the image of the stored object.
func create(client kubernetes.Interface, kind, ns, image string, dryRun bool) (string, error) {
	ctx := context.Background()
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	name := fmt.Sprintf("w%d", names.Add(1))
	meta := metav1.ObjectMeta{Name: name}
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
	template.Spec.RestartPolicy = corev1.RestartPolicyNever
	switch kind {
	case "Pod":
		p, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: meta, Spec: spec}, opts)
		if err != nil {
			return "", err
		}
		return p.Spec.Containers[0].Image, nil
	case "Deployment":
		template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		d, err := client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}, opts)
		if err != nil {
			return "", err
		}
		return d.Spec.Template.Spec.Containers[0].Image, nil
	case "Job":
		j, err := client.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: template}}, opts)
		if err != nil {
			return "", err
		}
		return j.Spec.Template.Spec.Containers[0].Image, nil
	case "CronJob":
		cj, err := client.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}}}, opts)
		if err != nil {
			return "", err
		}
		return cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image, nil
	}
	panic("unknown kind " + kind)
}

// denied reports whether err is customs' denial through the validating
// webhook, with the reason in the API server's answer.
func denied(err error, reason string) bool {
	return err != nil && apierrors.IsForbidden(err) &&
		strings.Contains(err.Error(), `admission webhook "images.customs.dev" denied the request: customs denied image`) &&
		strings.Contains(err.Error(), reason)
}

// TestKubeWorkloads creates pods, Deployments, Jobs and CronJobs through
// the API server: allowed images are stored, pinned to their digest,
// with customs' warnings reaching the client; denied ones are refused
// with customs' reasons in the API server's error.
func TestKubeWorkloads(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	c.startGate(t, w.policy(), w.publicKey())
	c.Namespace(t, "workloads")
	client, warnings := c.ClientWithWarnings(t)
	good := w.reg.Host + "/signed/good:1"
	for _, kind := range []string{"Pod", "Deployment", "Job", "CronJob"} {
		t.Run(kind, func(t *testing.T) {
			warnings.Take()
			stored, err := create(client, kind, "workloads", good, false)
			if err != nil {
				t.Fatalf("%s of %s: %v", kind, good, err)
			}
			if want := good + "@" + w.clean.String(); stored != want {
				t.Errorf("stored image %s, want %s (pinned by the mutating webhook)", stored, want)
			}
			if ws := strings.Join(warnings.Take(), "\n"); !strings.Contains(ws, "insecure-ignore-tlog") {
				t.Errorf("the client got no warning of the waived transparency log: %q", ws)
			}
			for image, reason := range map[string]string{
				w.reg.Host + "/signed/app:1":  "no signature found",
				w.reg.Host + "/signed/crit:1": "GHSA-v778-237x-gjrc",
				"example.invalid/app:1":       "image not allowed by the trust policy",
			} {
				if _, err := create(client, kind, "workloads", image, false); !denied(err, reason) {
					t.Errorf("%s of %s: %v; want customs' denial with %q", kind, image, err, reason)
				}
			}
		})
	}
}

// TestKubeDryRun decides server-side dry runs without storing anything;
// the webhooks say sideEffects: None, without which the API server would
// refuse dry runs.
func TestKubeDryRun(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	c.startGate(t, w.policy(), w.publicKey())
	c.Namespace(t, "dry-run")
	ctx := context.Background()
	v, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, c.validating.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, c.mutating.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if se := v.Webhooks[0].SideEffects; se == nil || *se != "None" {
		t.Errorf("validating webhook sideEffects %v, want None", se)
	}
	if se := m.Webhooks[0].SideEffects; se == nil || *se != "None" {
		t.Errorf("mutating webhook sideEffects %v, want None", se)
	}
	p, err := createPod(c.Client, "dry-run", "allowed", w.reg.Host+"/signed/good:1", true)
	if err != nil {
		t.Fatalf("dry run of an allowed image: %v", err)
	}
	if !strings.Contains(p.Spec.Containers[0].Image, "@"+w.clean.String()) {
		t.Errorf("the dry run's answer is not pinned: %s", p.Spec.Containers[0].Image)
	}
	if _, err := c.Client.CoreV1().Pods("dry-run").Get(ctx, "allowed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a dry run stored the pod: %v", err)
	}
	if _, err := createPod(c.Client, "dry-run", "denied", w.reg.Host+"/signed/app:1", true); !denied(err, "no signature found") {
		t.Errorf("dry run of an unsigned image: %v; want customs' denial", err)
	}
}

// TestKubePinning: the mutating webhook pins repo:tag to
// repo:tag@sha256:… in the stored object and the validating webhook
// verifies that digest, not the tag: a reference whose tag is signed but
// whose digest is not is denied.
func TestKubePinning(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	g := c.startGate(t, w.policy(), w.publicKey())
	c.Namespace(t, "pinning")
	good := w.reg.Host + "/signed/good:1"
	p, err := createPod(c.Client, "pinning", "pinned", good, false)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.Client.CoreV1().Pods("pinning").Get(context.Background(), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := good + "@" + w.clean.String(); stored.Spec.Containers[0].Image != want {
		t.Errorf("stored image %s, want %s", stored.Spec.Containers[0].Image, want)
	}
	if want := fmt.Sprintf("image=%s/signed/good@%s allowed=true", w.reg.Host, w.clean); !strings.Contains(g.log.String(), want) {
		t.Errorf("customs' log has no decision %q:\n%s", want, g.log)
	}
	other := signtest.Push(t, w.reg.Host+"/signed/good:2", signtest.Image(t))
	if _, err := createPod(c.Client, "pinning", "swapped", good+"@"+other.String(), false); !denied(err, "no signature found") {
		t.Errorf("a signed tag with an unsigned digest: %v; want denied for the digest", err)
	}
}

// TestKubeNamespaces: the namespaces the chart excludes (customs' own and
// kube-system) are never sent to customs, and exempt-namespaces in the
// policy agrees: a namespace exempt there is allowed with a warning, and
// the example policy exempts every namespace the chart excludes by
// default.
func TestKubeNamespaces(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	g := c.startGate(t, w.policy(), w.publicKey())
	unsigned := w.reg.Host + "/signed/app:1"
	before := g.reviews()
	for _, ns := range []string{"kube-system", releaseNS} {
		c.Namespace(t, ns)
		if _, err := createPod(c.Client, ns, "unsigned", unsigned, false); err != nil {
			t.Errorf("namespace %s, excluded by the chart: %v", ns, err)
		}
	}
	if n := g.reviews() - before; n != 0 {
		t.Errorf("customs got %v reviews for namespaces the chart excludes", n)
	}
	c.Namespace(t, "exempt-team")
	client, warnings := c.ClientWithWarnings(t)
	if _, err := createPod(client, "exempt-team", "unsigned", unsigned, false); err != nil {
		t.Errorf("namespace exempt-team, exempt in the policy: %v", err)
	}
	if ws := strings.Join(warnings.Take(), "\n"); !strings.Contains(ws, "namespace exempt-team is exempt") {
		t.Errorf("no warning of the exemption: %q", ws)
	}
	if g.reviews() == before {
		t.Errorf("customs got no review for exempt-team")
	}
	example, err := admission.LoadPolicy("policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.validating.Webhooks[0].NamespaceSelector.MatchExpressions {
		for _, ns := range e.Values {
			if ns != releaseNS && !example.Exempt(ns) {
				t.Errorf("the chart excludes %s; the example policy does not exempt it", ns)
			}
		}
	}
}

// TestKubeFailClosed: with customs stopped, the API server refuses pods
// under failurePolicy: Fail, within timeoutSeconds; with a registry that
// never answers, customs denies within its budget, before the API
// server's timeout.
func TestKubeFailClosed(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	g := c.startGate(t, w.policy(), w.publicKey())
	c.Namespace(t, "fail-closed")
	good := w.reg.Host + "/signed/good:1"
	if _, err := createPod(c.Client, "fail-closed", "up", good, false); err != nil {
		t.Fatalf("with customs up: %v", err)
	}
	g.stop()
	start := time.Now()
	_, err := createPod(c.Client, "fail-closed", "down", good, false)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("with customs stopped: %v; want refused: failed calling webhook", err)
	}
	if took > timeout {
		t.Errorf("the refusal took %v, beyond timeoutSeconds (%v)", took, timeout)
	}
	g.start()
	refused := took
	start = time.Now()
	_, err = createPod(c.Client, "fail-closed", "hanging", w.hanging+"/app:1", false)
	took = time.Since(start)
	if !denied(err, "no decision within the time budget of "+budget) {
		t.Errorf("an image on a registry that hangs: %v; want customs' denial for the budget", err)
	}
	// Two webhooks, each bounded by the budget (the mutating one leaves
	// the image unpinned when the budget runs out).
	if took > 2*timeout {
		t.Errorf("the denial took %v; each webhook's timeout is %v", took, timeout)
	}
	t.Logf("refused with customs down in %v; denied with a hanging registry in %v", refused, took)
}

// TestKubeCertificateRotation rotates customs' serving certificate on
// disk, the way the kubelet updates a Secret volume, while the API server
// keeps calling: no admission fails, and customs serves each new
// certificate.
func TestKubeCertificateRotation(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	g := c.startGate(t, w.policy(), w.publicKey())
	c.Namespace(t, "rotation")
	good := w.reg.Host + "/signed/good:1"
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := createPod(c.Client, "rotation", "", good, true); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	served := func() int64 {
		conn, err := tls.Dial("tcp", c.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return 0
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		g.rotate()
		deadline := time.Now().Add(5 * time.Second)
		for served() != g.serial {
			if time.Now().After(deadline) {
				t.Fatalf("customs does not serve the rotated certificate %d within 5s (serves %d)", g.serial, served())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	// A restart makes the API server connect again, to the last certificate.
	g.stop()
	g.start()
	if _, err := createPod(c.Client, "rotation", "after", good, true); err != nil {
		t.Errorf("after the rotations and a restart: %v", err)
	}
	if failed.Load() != 0 || ok.Load() < 10 {
		t.Errorf("during three rotations: %d admissions failed (first: %v), %d succeeded", failed.Load(), firstErr.Load(), ok.Load())
	}
	t.Logf("%d dry-run admissions during three rotations, none failed", ok.Load())
}

// TestKubeCacheHoles are issue 19's three ways a decision cached by
// digest opened or jammed the gate, through the API server, with the
// chart's on-disk decision cache across a restart.
func TestKubeCacheHoles(t *testing.T) {
	c := kube(t)
	w := newWorld(t)
	g := c.startGate(t, w.policy(), w.publicKey())
	c.Namespace(t, "holes")
	reg := w.reg.Host
	t.Run("signature bypass", func(t *testing.T) {
		if _, err := createPod(c.Client, "holes", "open", reg+"/open/app:1", false); err != nil {
			t.Fatalf("open/app:1 under allow-unsigned: %v", err)
		}
		if _, err := createPod(c.Client, "holes", "bypass", reg+"/signed/app:1", false); !denied(err, "no signature found") {
			t.Errorf("signed/app:1 (the same digest, unsigned there) after open/app:1: %v; want denied", err)
		}
	})
	t.Run("unmatched registry", func(t *testing.T) {
		for _, image := range []string{w.foreign + "/evil/x@" + w.clean.String(), w.foreign + "/evil/x:1"} {
			if _, err := createPod(c.Client, "holes", "", image, false); !denied(err, "image not allowed by the trust policy") {
				t.Errorf("%s, a host no entry covers: %v; want denied by the trust policy", image, err)
			}
		}
		if n := w.dials.Load(); n != 0 {
			t.Errorf("customs connected %d times to the unmatched host", n)
		}
	})
	t.Run("poisoning", func(t *testing.T) {
		for _, bad := range []string{w.foreign + "/evil/x@" + w.clean.String(), reg + "/signed/app@" + w.clean.String()} {
			if _, err := createPod(c.Client, "holes", "", bad, true); err == nil {
				t.Fatalf("%s: allowed", bad)
			}
		}
		good := reg + "/signed/good@" + w.clean.String()
		if _, err := createPod(c.Client, "holes", "", good, false); err != nil {
			t.Errorf("the legitimate image after the denials: %v", err)
		}
		g.stop()
		g.start()
		if _, err := createPod(c.Client, "holes", "", good, false); err != nil {
			t.Errorf("the legitimate image after a restart: %v", err)
		}
		if _, err := createPod(c.Client, "holes", "", reg+"/signed/app@"+w.clean.String(), false); !denied(err, "no signature found") {
			t.Errorf("signed/app by a digest signed only in signed/good, after a restart: %v; want denied", err)
		}
		if g.metric(`customs_admission_cache_hits_total{level="bbolt"}`) == 0 {
			t.Errorf("the restarted customs answered nothing from its on-disk cache")
		}
	})
}
