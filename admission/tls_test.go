package admission

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
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate; serial tells rotations apart.
func (ca *testCA) issue(t *testing.T, serial int64, server bool) (certPEM, keyPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "customs-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (ca *testCA) clientCert(t *testing.T) tls.Certificate {
	c, k := ca.issue(t, 7, false)
	kp, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// TestTLS checks the transport: HTTPS only, client certificates against
// --client-ca, a bearer token as the alternative, health without either,
// and a rotated certificate served without a restart.
func TestTLS(t *testing.T) {
	ca, stranger := newCA(t, "customs test CA"), newCA(t, "someone else")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c, k := ca.issue(t, 100, true)
	os.WriteFile(certFile, c, 0o600)
	os.WriteFile(keyFile, k, 0o600)

	f := newFixture(t, allowUnsigned)
	cfg := f.config()
	cfg.ClientCAs = x509.NewCertPool()
	cfg.ClientCAs.AppendCertsFromPEM(ca.pem)
	cfg.Token = "s3cret-token"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tlsCfg, err := s.TLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l, tlsCfg) }()
	defer func() {
		cancel()
		if err := <-served; err != nil && err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "https://" + l.Addr().String()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	checkBody := []byte(`{"image": "127.0.0.1:1/app:1", "namespace": "kube-system"}`)
	call := func(c *http.Client, path, token string) (int, string, error) {
		method, body := "GET", []byte(nil)
		if path == "/v1/check" {
			method, body = "POST", checkBody
		}
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), nil
	}

	// Plain HTTP to the HTTPS port is refused.
	resp, err := http.Post("http://"+l.Addr().String()+"/v1/check", "application/json", bytes.NewReader(checkBody))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP: status %d, want the refusal (400)", resp.StatusCode)
		}
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		path   string
		token  string
		code   int
	}{
		{"health without a certificate", client(), "/healthz", "", 200},
		{"metrics without a certificate", client(), "/metrics", "", 200},
		{"API without a certificate", client(), "/v1/check", "", 401},
		{"API with a wrong token", client(), "/v1/check", "guess", 401},
		{"API with the token", client(), "/v1/check", "s3cret-token", 200},
		{"API with a client certificate", client(ca.clientCert(t)), "/v1/check", "", 200},
	} {
		code, body, err := call(tc.client, tc.path, tc.token)
		if err != nil || code != tc.code {
			t.Errorf("%s: %d %v %s; want %d", tc.name, code, err, body, tc.code)
		}
	}
	// A certificate from another CA is refused (Go's client does not even
	// send it, as the server names the CAs it accepts).
	if code, body, err := call(client(stranger.clientCert(t)), "/v1/check", ""); err == nil && code != 401 {
		t.Errorf("a client certificate of an unknown CA was accepted: %d %s", code, body)
	}
	// One that is sent anyway fails the handshake.
	stray := stranger.clientCert(t)
	forced := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stray, nil }}}}
	if code, _, err := call(forced, "/v1/check", ""); err == nil {
		t.Errorf("a client certificate of an unknown CA got past the handshake: %d", code)
	}

	// Rotation: new files, and new connections get the new certificate.
	c, k = ca.issue(t, 200, true)
	os.WriteFile(keyFile, k, 0o600)
	os.WriteFile(certFile, c, 0o600)
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		serial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
		conn.Close()
		if serial == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving certificate %d after the files changed", serial)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
