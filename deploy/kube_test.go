package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/customs-dev/customs/internal/kubetest"
	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.StopShared()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// The chart is installed as release "customs" in namespace "gate", with
// the mutating webhook on and a short webhook timeout and budget so that
// the tests of what fails closed take seconds.
const (
	release   = "customs"
	releaseNS = "gate"
	timeout   = 5 * time.Second
	budget    = "3s"
)

// cluster is the package's API server with the chart's webhooks applied
// as the chart renders them, but for the service reference, replaced by a
// url on 127.0.0.1, and the test CA as caBundle. Each test runs its own
// customs on that address, as the chart's Deployment runs it.
type cluster struct {
	*kubetest.Cluster
	addr       string // where the webhooks call customs
	ca         *authority
	container  corev1.Container // the chart's customs container
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
}

var (
	sharedCluster *cluster
	clusterErr    error
	clusterOnce   sync.Once
)

func kube(t testing.TB) *cluster {
	t.Helper()
	kc := kubetest.Shared(t)
	helm := helmBinary(t)
	clusterOnce.Do(func() { sharedCluster, clusterErr = install(kc, helm) })
	if clusterErr != nil {
		t.Fatalf("installing the chart's webhooks: %v\n%s", clusterErr, kc.Logs())
	}
	return sharedCluster
}

func helmBinary(t testing.TB) string {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm, _ = exec.LookPath("helm")
	}
	if helm == "" {
		t.Skip("skipping: helm not found (set HELM, or go install helm.sh/helm/v3/cmd/helm@v3.22.0; .ci/run does)")
	}
	return helm
}

// install renders the chart and applies its webhook configurations.
func install(kc *kubetest.Cluster, helm string) (*cluster, error) {
	out, err := exec.Command(helm, "template", release, "helm/customs", "--namespace", releaseNS,
		"--set", "webhook.mutating=true",
		"--set", fmt.Sprintf("webhook.timeoutSeconds=%d", int(timeout.Seconds())),
		"--set", "budget="+budget).Output()
	if err != nil {
		return nil, fmt.Errorf("helm template: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &cluster{Cluster: kc, addr: l.Addr().String()}
	l.Close()
	if c.ca, err = newAuthority(); err != nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(out), "\n---") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, err
		}
		switch head.Kind {
		case "ValidatingWebhookConfiguration":
			c.validating = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict([]byte(doc), c.validating); err != nil {
				return nil, err
			}
			for i := range c.validating.Webhooks {
				c.validating.Webhooks[i].ClientConfig = c.clientConfig(c.validating.Webhooks[i].ClientConfig)
			}
		case "MutatingWebhookConfiguration":
			c.mutating = &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict([]byte(doc), c.mutating); err != nil {
				return nil, err
			}
			for i := range c.mutating.Webhooks {
				c.mutating.Webhooks[i].ClientConfig = c.clientConfig(c.mutating.Webhooks[i].ClientConfig)
			}
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil {
				return nil, err
			}
			c.container = d.Spec.Template.Spec.Containers[0]
		}
	}
	if c.validating == nil || c.mutating == nil || c.container.Name == "" {
		return nil, errors.New("the chart rendered no webhook configurations or no Deployment")
	}
	ctx := context.Background()
	// Validation first, then mutation: while no customs answers, each
	// request fails at the first webhook called, mutation before
	// validation, which tells when each is in force.
	if _, err := kc.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, c.validating, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("the API server refused the chart's ValidatingWebhookConfiguration: %w", err)
	}
	for _, ns := range []string{releaseNS, "probe"} {
		if err := kc.EnsureNamespace(ns); err != nil {
			return nil, err
		}
	}
	if err := c.waitInForce(c.validating.Webhooks[0].Name); err != nil {
		return nil, err
	}
	if _, err := kc.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, c.mutating, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("the API server refused the chart's MutatingWebhookConfiguration: %w", err)
	}
	if err := c.waitInForce(c.mutating.Webhooks[0].Name); err != nil {
		return nil, err
	}
	return c, nil
}

// clientConfig is the chart's client configuration with the service
// replaced by a url on 127.0.0.1 and the test CA.
func (c *cluster) clientConfig(cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
	url := "https://" + c.addr + *cc.Service.Path
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: c.ca.certPEM}
}

// waitInForce waits until a pod creation in namespace probe fails at the
// named webhook (no customs listens yet).
func (c *cluster) waitInForce(webhook string) error {
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		_, err = c.Client.CoreV1().Pods("probe").Create(context.Background(), pod("probe", "example.invalid/app:1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), fmt.Sprintf("%q", webhook)) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("webhook %s not in force within 30s; the last creation said: %v", webhook, err)
}

// authority is the test CA behind the webhooks' caBundle; it signs
// customs' serving certificates.
type authority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	serial  atomic.Int64
}

func newAuthority() (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "customs test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	a := &authority{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	a.serial.Store(1)
	return a, nil
}

// issue returns a serving certificate for 127.0.0.1 and its key, in PEM,
// and the certificate's serial number.
func (a *authority) issue(t testing.TB) (certPEM, keyPEM []byte, serial int64) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial = a.serial.Add(1)
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: release + "." + releaseNS + ".svc"},
		DNSNames:    []string{release + "." + releaseNS + ".svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), serial
}

var (
	builtOnce sync.Once
	builtDir  string
	builtBin  string
	builtErr  error
)

// customsBinary builds cmd/customs once per test binary.
func customsBinary(t testing.TB) string {
	t.Helper()
	builtOnce.Do(func() {
		if builtDir, builtErr = os.MkdirTemp("", "customs-bin-"); builtErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "customs")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/customs-dev/customs/cmd/customs").CombinedOutput()
		if err != nil {
			builtErr = fmt.Errorf("go build ./cmd/customs: %v\n%s", err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtBin
}

// gate is customs serve run as the chart's container runs it: its
// arguments and environment, with every absolute path under root (the
// mounts: the policy ConfigMap, the TLS Secret, the database and cache
// volumes) and the listen address on the webhooks' 127.0.0.1 port.
type gate struct {
	t      testing.TB
	c      *cluster
	root   string
	serial int64 // of the serving certificate last written
	certs  int   // rotations so far
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd exits
	log    *lockedBuffer
	http   *http.Client
}

// startGate writes the policy (and the key files it names, beside it, as
// an existing policy ConfigMap would hold them), the database and a
// serving certificate, and starts customs.
func (c *cluster) startGate(t testing.TB, policy string, files map[string][]byte) *gate {
	t.Helper()
	g := &gate{t: t, c: c, root: t.TempDir(), log: &lockedBuffer{}}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	g.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	policyFile := g.path(c.arg("--policy"))
	write(t, policyFile, []byte(policy))
	for name, b := range files {
		write(t, filepath.Join(filepath.Dir(policyFile), name), b)
	}
	db := g.path(c.arg("--db"))
	src := testimage.CriticalDB(t)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		write(t, filepath.Join(db, e.Name()), b)
	}
	g.rotate()
	g.start()
	t.Cleanup(g.stop)
	return g
}

// arg returns the value of a flag of the chart's container.
func (c *cluster) arg(flag string) string {
	for _, a := range c.container.Args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	panic("the chart's container has no " + flag)
}

func (g *gate) path(p string) string { return filepath.Join(g.root, p) }

// rotate writes a new serving certificate and key the way the kubelet
// updates a Secret's volume: both files at once, by swapping a symbolic
// link to a new directory.
func (g *gate) rotate() {
	g.t.Helper()
	dir := filepath.Dir(g.path(g.c.arg("--tls-cert")))
	cert, key, serial := g.c.ca.issue(g.t)
	g.certs++
	gen := fmt.Sprintf("..gen%d", g.certs)
	write(g.t, filepath.Join(dir, gen, filepath.Base(g.c.arg("--tls-cert"))), cert)
	write(g.t, filepath.Join(dir, gen, filepath.Base(g.c.arg("--tls-key"))), key)
	tmp := filepath.Join(dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(gen, tmp); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		g.t.Fatal(err)
	}
	for _, f := range []string{g.c.arg("--tls-cert"), g.c.arg("--tls-key")} {
		link := g.path(f)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", filepath.Base(f)), link); err != nil {
				g.t.Fatal(err)
			}
		}
	}
	g.serial = serial
}

// start runs customs and waits until /readyz answers.
func (g *gate) start() {
	g.t.Helper()
	var args []string
	for _, a := range g.c.container.Args {
		flag, v, ok := strings.Cut(a, "=")
		switch {
		case ok && flag == "--listen":
			a = flag + "=" + g.c.addr
		case ok && filepath.IsAbs(v):
			a = flag + "=" + g.path(v)
		}
		args = append(args, a)
	}
	cmd := exec.Command(customsBinary(g.t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, e := range g.c.container.Env {
		v := e.Value
		if filepath.IsAbs(v) {
			v = g.path(v)
			os.MkdirAll(v, 0o755)
		}
		cmd.Env = append(cmd.Env, e.Name+"="+v)
	}
	cmd.Stdout, cmd.Stderr = g.log, g.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	exited := g.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := g.http.Get("https://" + g.c.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			g.t.Fatalf("customs %s exited:\n%s", strings.Join(args, " "), g.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("customs not ready within 30s: %v\n%s", err, g.log)
		}
	}
}

// stop ends customs as the kubelet does (SIGTERM), and waits.
func (g *gate) stop() {
	if g.cmd == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
	}
	g.cmd = nil
}

// metric returns the value of one sample of customs' /metrics, or 0.
func (g *gate) metric(sample string) float64 {
	g.t.Helper()
	resp, err := g.http.Get("https://" + g.c.addr + "/metrics")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// reviews is the number of AdmissionReviews customs has answered.
func (g *gate) reviews() float64 {
	return g.metric(`customs_admission_request_duration_seconds_count{endpoint="validate"}`) +
		g.metric(`customs_admission_request_duration_seconds_count{endpoint="mutate"}`)
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// world is a real registry holding images in an allow-unsigned
// repository (open/), key-signed ones (signed/), a digest signed in one
// repository and unsigned in another, and a Go binary with a critical
// finding; foreign is a host no policy entry covers, whose listener
// counts the connections it gets.
type world struct {
	reg      *registrytest.Registry
	foreign  string
	dials    *atomic.Int64
	hanging  string // a registry that accepts connections and never answers
	key      *ecdsa.PrivateKey
	clean    v1.Hash // unsigned in open/app and signed/app, signed in signed/good
	critical v1.Hash // signed in signed/crit
}

func newWorld(t testing.TB) *world {
	t.Helper()
	reg := registrytest.Start(t, registrytest.Options{})
	w := &world{reg: reg, dials: new(atomic.Int64)}
	w.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("skipping: cannot listen on 127.0.0.2: %v", err)
	}
	w.foreign = foreign.Addr().String()
	hanging, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.hanging = hanging.Addr().String()
	var held []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		foreign.Close()
		hanging.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := foreign.Accept()
			if err != nil {
				return
			}
			w.dials.Add(1)
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := hanging.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()

	push := func(repo, tag string, img v1.Image, signed bool) v1.Hash {
		repo = reg.Host + "/" + repo
		d := signtest.Push(t, repo+":"+tag, img)
		if signed {
			signtest.SignTag(t, repo, d, signtest.Payload(repo, d), w.key, nil)
		}
		return d
	}
	clean := signtest.Image(t)
	w.clean = push("open/app", "1", clean, false)
	push("signed/app", "1", clean, false)
	push("signed/good", "1", clean, true)
	critical := testimage.Executables(t, map[string][]byte{"usr/local/bin/goapp": testimage.GoBinary(t, "amd64")})
	w.critical = push("signed/crit", "1", critical, true)
	return w
}

// policy is the world's trust policy: open/ allows unsigned images,
// signed/ needs the key, the hanging registry is covered (so that it is
// asked), anything else is denied; exempt-team is exempt.
func (w *world) policy() string {
	return fmt.Sprintf(`version: 1
unmatched: deny
exempt-namespaces: [kube-system, exempt-team]
images:
  - pattern: %[1]s/open/**
    allow-unsigned: true
  - pattern: %[1]s/signed/**
    authorities: [{key: cosign.pub}]
    insecure-ignore-tlog: true
  - pattern: %[2]s/**
    allow-unsigned: true
defaults:
  fail-on: critical
  unknown-severity: pass
`, w.reg.Host, w.hanging)
}

func (w *world) publicKey() map[string][]byte {
	der, _ := x509.MarshalPKIXPublicKey(&w.key.PublicKey)
	return map[string][]byte{"cosign.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
}

func pod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

// createPod creates a pod (named for the test when name is "") and
// returns the stored pod, or the API server's error.
func createPod(client kubernetes.Interface, ns, name, image string, dryRun bool) (*corev1.Pod, error) {
	if name == "" {
		name = fmt.Sprintf("p%d", names.Add(1))
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return client.CoreV1().Pods(ns).Create(context.Background(), pod(name, image), opts)
}
