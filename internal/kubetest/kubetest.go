// Package kubetest runs a real Kubernetes API server for tests: Debian's
// etcd and a kube-apiserver built from the module proxy, on loopback, with
// a token file, RBAC and a service-account key pair, and no controller
// manager or kubelet. Objects are admitted and stored; nothing runs.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Version is the kube-apiserver .ci/run builds.
const Version = "v1.37.2"

// Binaries returns the etcd and kube-apiserver to run: $ETCD (or Debian's
// /usr/bin/etcd) and $KUBE_APISERVER (or kube-apiserver on the PATH). The
// error says how to get what is missing.
func Binaries() (etcd, apiserver string, err error) {
	etcd = os.Getenv("ETCD")
	if etcd == "" {
		etcd, _ = exec.LookPath("etcd")
	}
	if etcd == "" {
		return "", "", errors.New("etcd not found (set ETCD, or apt-get install etcd-server; .ci/run does)")
	}
	apiserver = os.Getenv("KUBE_APISERVER")
	if apiserver == "" {
		apiserver, _ = exec.LookPath("kube-apiserver")
	}
	if apiserver == "" {
		return "", "", fmt.Errorf("kube-apiserver not found (set KUBE_APISERVER; .ci/run builds k8s.io/kubernetes/cmd/kube-apiserver %s and caches it)", Version)
	}
	return etcd, apiserver, nil
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Config authenticates as an administrator (system:masters) by token.
	Config *rest.Config
	Client kubernetes.Interface
	// URL is the API server's https://127.0.0.1:PORT.
	URL string

	dir   string
	procs []proc
}

// proc is a process the cluster started; done is closed when it exits.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs etcd and kube-apiserver with their files in dir and waits
// until the API server is ready (up to a minute).
func Start(dir string) (*Cluster, error) {
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	client, peer, secure := ports[0], ports[1], ports[2]
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	if err := c.run(etcdBin, "etcd",
		"--name=customs-test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=customs-test="+peerURL,
		"--log-level=warn"); err != nil {
		return nil, err
	}

	token := randomHex(16)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	if err := writeServiceAccountKey(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		return nil, err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", secure)
	// A loopback advertise address is refused unless the endpoint
	// reconciler is off; there is no controller manager, so nothing else
	// needs it.
	if err := c.run(apiBin, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(secure),
		"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(dir, "pki"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--v=0"); err != nil {
		return nil, err
	}
	c.Config = &rest.Config{
		Host:            c.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, // its own self-signed certificate
		QPS:             -1,                                   // no client-side rate limit
		Timeout:         30 * time.Second,
		// Warnings are for the tests that ask for them (ClientWithWarnings),
		// not for the log.
		WarningHandler: rest.NoWarnings{},
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	if err := c.waitReady(time.Minute); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// run starts a process whose output goes to dir/NAME.log; it is killed
// with the test binary should Stop not be called.
func (c *Cluster) run(bin, name string, args ...string) error {
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Webhooks on 127.0.0.1 are called directly, whatever proxy the
	// environment names.
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := proc{cmd, make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

func (c *Cluster) waitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		var body []byte
		body, last = c.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if last == nil {
			// The system namespaces come a moment after /readyz.
			if _, last = c.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); last == nil {
				return nil
			}
		} else if len(body) > 0 {
			last = fmt.Errorf("%w: %s", last, body)
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: %s", p.cmd.Path, c.Logs())
			default:
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the API server was not ready within %v: %v\n%s", limit, last, c.Logs())
}

// Logs returns the end of the etcd and kube-apiserver logs.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, name := range []string{"etcd", "kube-apiserver"} {
		data, _ := os.ReadFile(filepath.Join(c.dir, name+".log"))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s.log (end)\n%s\n", name, bytes.TrimSpace(data))
	}
	return b.String()
}

// Stop ends the API server, then etcd.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
}

var (
	shared     *Cluster
	sharedErr  error
	sharedOnce sync.Once
	sharedDir  string
)

// Shared returns the package's one cluster, started on first use; tests
// that cannot have one are skipped with the reason. A package using it
// calls StopShared from TestMain after m.Run.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: the API server takes seconds to start (-short)")
	}
	if _, _, err := Binaries(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	sharedOnce.Do(func() {
		if sharedDir, sharedErr = os.MkdirTemp("", "kubetest-"); sharedErr == nil {
			shared, sharedErr = Start(sharedDir)
		}
	})
	if sharedErr != nil {
		t.Fatalf("starting the API server: %v", sharedErr)
	}
	return shared
}

// StopShared stops the shared cluster, if one was started, and removes
// its files.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
}

// EnsureNamespace creates a namespace with its default service account
// (there is no controller manager to make one), unless they exist.
func (c *Cluster) EnsureNamespace(name string) error {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := c.Client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default service account in %s: %w", name, err)
	}
	return nil
}

// Namespace is EnsureNamespace for a test: the namespace's pods are
// deleted when it ends. (Without a namespace controller a deleted
// namespace stays Terminating, so namespaces are kept and each test uses
// its own.)
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	if err := c.EnsureNamespace(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Client.CoreV1().Pods(name).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	})
}

// Warnings collects the warnings the API server sends a client.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader is client-go's rest.WarningHandler.
func (w *Warnings) HandleWarningHeader(code int, agent string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// Take returns the warnings seen since the last Take.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// ClientWithWarnings returns an administrator's client whose warnings
// are collected.
func (c *Cluster) ClientWithWarnings(t testing.TB) (kubernetes.Interface, *Warnings) {
	t.Helper()
	w := &Warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, w
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeServiceAccountKey(keyFile, pubFile string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}
