// Package deploy holds the Kubernetes manifests and the Helm chart of
// customs serve; its tests check that they decode as the Kubernetes types
// they claim to be and say what docs/admission.md promises.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/customs-dev/customs/admission"
)

// TestExamplePolicyLoads checks that the example policy is one customs
// serve accepts.
func TestExamplePolicyLoads(t *testing.T) {
	p, err := admission.LoadPolicy("policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Images) < 2 || len(p.Rules) < 3 || !p.Exempt("kube-system") || !p.NeedsTrustedRoot() {
		t.Errorf("the example policy lost its parts: %d images, %d rules", len(p.Images), len(p.Rules))
	}
	chart, err := os.ReadFile("helm/customs/policy.example.yaml")
	orig, _ := os.ReadFile("policy.example.yaml")
	if err != nil || !bytes.Equal(chart, orig) {
		t.Errorf("the chart's policy.example.yaml is not the example policy (it is a symbolic link to it): %v", err)
	}
}

// object is a decoded manifest.
type object struct {
	file, kind, name string
	v                any
}

// decode splits YAML documents and decodes each strictly as its kind.
func decode(t *testing.T, file string, b []byte) []object {
	t.Helper()
	var out []object
	for i, doc := range strings.Split(string(b), "\n---") {
		var head struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Errorf("%s document %d: %v", file, i, err)
			continue
		}
		if head.Kind == "" {
			continue
		}
		var v any
		switch head.Kind {
		case "Namespace":
			v = &corev1.Namespace{}
		case "ServiceAccount":
			v = &corev1.ServiceAccount{}
		case "ConfigMap":
			v = &corev1.ConfigMap{}
		case "Service":
			v = &corev1.Service{}
		case "Deployment":
			v = &appsv1.Deployment{}
		case "PodDisruptionBudget":
			v = &policyv1.PodDisruptionBudget{}
		case "ValidatingWebhookConfiguration":
			v = &admissionregistrationv1.ValidatingWebhookConfiguration{}
		case "MutatingWebhookConfiguration":
			v = &admissionregistrationv1.MutatingWebhookConfiguration{}
		case "Issuer", "Certificate", "Kustomization":
			v = &map[string]any{} // cert-manager's and kustomize's own types
		default:
			t.Errorf("%s: unexpected kind %s", file, head.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", file, head.Kind, head.Metadata.Name, err)
			continue
		}
		out = append(out, object{file, head.Kind, head.Metadata.Name, v})
	}
	return out
}

// checkObjects asserts what docs/admission.md and the issue promise of a
// deployment of customs in namespace ns.
func checkObjects(t *testing.T, objs []object, ns string, mutating bool) {
	t.Helper()
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
		switch v := o.v.(type) {
		case *appsv1.Deployment:
			spec := v.Spec.Template.Spec
			if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("%s: the pod does not run as non-root", o.file)
			}
			var budget time.Duration
			for _, c := range append(spec.InitContainers, spec.Containers...) {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("%s: container %s has a writable root filesystem or may escalate", o.file, c.Name)
				}
				if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
					t.Errorf("%s: container %s has no resource limits", o.file, c.Name)
				}
				for _, a := range c.Args {
					if d, ok := strings.CutPrefix(a, "--budget="); ok {
						budget, _ = time.ParseDuration(d)
					}
				}
			}
			if budget == 0 || budget >= 10*time.Second {
				t.Errorf("%s: the budget %s is not below the webhook timeout of 10s", o.file, budget)
			}
			if c := spec.Containers[0]; c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil {
				t.Errorf("%s: no readiness probe on /readyz", o.file)
			}
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for _, w := range v.Webhooks {
				checkWebhook(t, o.file, w.Name, w.SideEffects, w.FailurePolicy, selector(w.NamespaceSelector), w.ClientConfig, w.Rules, w.AdmissionReviewVersions, ns, "/validate")
			}
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for _, w := range v.Webhooks {
				checkWebhook(t, o.file, w.Name, w.SideEffects, w.FailurePolicy, selector(w.NamespaceSelector), w.ClientConfig, w.Rules, w.AdmissionReviewVersions, ns, "/mutate")
			}
		}
	}
	want := map[string]int{"Deployment": 1, "Service": 1, "PodDisruptionBudget": 1, "ValidatingWebhookConfiguration": 1, "ServiceAccount": 1, "Certificate": 1}
	if mutating {
		want["MutatingWebhookConfiguration"] = 1
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s, want %d (have %v)", kinds[k], k, n, kinds)
		}
	}
}

func checkWebhook(t *testing.T, file, name string, se *admissionregistrationv1.SideEffectClass, fp *admissionregistrationv1.FailurePolicyType,
	sel []metav1.LabelSelectorRequirement, cc admissionregistrationv1.WebhookClientConfig, rules []admissionregistrationv1.RuleWithOperations, versions []string, ns, path string) {
	t.Helper()
	if se == nil || *se != admissionregistrationv1.SideEffectClassNone || fp == nil || *fp != admissionregistrationv1.Fail {
		t.Errorf("%s: webhook %s: want sideEffects None and failurePolicy Fail", file, name)
	}
	if !slices.Equal(versions, []string{"v1"}) {
		t.Errorf("%s: webhook %s: admissionReviewVersions %v, want [v1]", file, name, versions)
	}
	excluded := false
	for _, e := range sel {
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == "NotIn" && slices.Contains(e.Values, ns) {
			excluded = true
		}
	}
	if !excluded {
		t.Errorf("%s: webhook %s does not exclude customs' own namespace %s", file, name, ns)
	}
	if cc.Service == nil || cc.Service.Path == nil || *cc.Service.Path != path || cc.Service.Namespace != ns {
		t.Errorf("%s: webhook %s does not call %s in %s", file, name, path, ns)
	}
	var resources []string
	for _, r := range rules {
		resources = append(resources, r.Resources...)
	}
	for _, r := range []string{"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "replicationcontrollers"} {
		if !slices.Contains(resources, r) {
			t.Errorf("%s: webhook %s does not send %s", file, name, r)
		}
	}
}

// TestManifests decodes deploy/kubernetes strictly and checks it.
func TestManifests(t *testing.T) {
	files, _ := filepath.Glob("kubernetes/*.yaml")
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, decode(t, f, b)...)
	}
	checkObjects(t, objs, "customs", true)
	k, _ := os.ReadFile("kustomization.yaml")
	for _, f := range files {
		if !strings.Contains(string(k), f) && !strings.Contains(f, "mutating") {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
}

// TestHelmChart renders the chart with helm, when it is installed (CI
// builds it: go install helm.sh/helm/v3/cmd/helm@v3.22.0), lints it, and
// checks what it renders as the plain manifests are checked.
func TestHelmChart(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm, _ = exec.LookPath("helm")
	}
	if helm == "" {
		t.Skip("skipping: helm not found (set HELM, or go install helm.sh/helm/v3/cmd/helm@v3.22.0; .ci/run does)")
	}
	if out, err := exec.Command(helm, "lint", "--strict", "helm/customs").CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	for _, mutating := range []bool{false, true} {
		cmd := exec.Command(helm, "template", "customs", "helm/customs", "--namespace", "gate", "--set", fmt.Sprintf("webhook.mutating=%v", mutating))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helm template: %v\n%s", err, stderr.String())
		}
		objs := decode(t, "helm template", out)
		checkObjects(t, objs, "gate", mutating)
		for _, o := range objs {
			if cm, ok := o.v.(*corev1.ConfigMap); ok {
				if _, err := admission.ParsePolicy("chart policy", []byte(cm.Data["policy.yaml"])); err != nil {
					t.Errorf("the chart's policy does not parse: %v", err)
				}
			}
		}
	}
}

// TestHelmChartHarbor renders the chart with Harbor's wiring: the
// replicas share jobs through Redis with the visibility timeout, and pull
// orphaned jobs with the robot account's Docker config.
func TestHelmChartHarbor(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm, _ = exec.LookPath("helm")
	}
	if helm == "" {
		t.Skip("skipping: helm not found (set HELM; .ci/run does)")
	}
	out, err := exec.Command(helm, "template", "customs", "helm/customs", "--namespace", "gate",
		"--set", "redisURL=redis://redis:6379/0", "--set", "harbor.dockerConfigSecret=harbor-robot", "--set", "harbor.visibilityTimeout=45s").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var dep *appsv1.Deployment
	for _, o := range decode(t, "helm template", out) {
		if d, ok := o.v.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--harbor-visibility-timeout=45s") || !slices.Contains(c.Args, "--cache=redis://redis:6379/0") {
		t.Errorf("args %v", c.Args)
	}
	env := false
	for _, e := range c.Env {
		env = env || e.Name == "DOCKER_CONFIG" && e.Value == "/etc/customs/docker"
	}
	vol := false
	for _, v := range dep.Spec.Template.Spec.Volumes {
		vol = vol || v.Secret != nil && v.Secret.SecretName == "harbor-robot" && len(v.Secret.Items) == 1 && v.Secret.Items[0].Path == "config.json"
	}
	if !env || !vol {
		t.Errorf("the robot account's Docker config is not wired: env %v, volume %v", env, vol)
	}
}

func selector(s *metav1.LabelSelector) []metav1.LabelSelectorRequirement {
	if s == nil {
		return nil
	}
	return s.MatchExpressions
}
