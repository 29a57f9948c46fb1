package posture

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/testimage"
)

func dirtyImage(t *testing.T, key string) v1.Image {
	base := testimage.Layer(t,
		testimage.File{Name: "bin/", Type: tar.TypeDir},
		testimage.File{Name: "bin/busybox", Body: "\x7fELF busybox", Mode: 0o755},
		testimage.File{Name: "bin/sh", Type: tar.TypeSymlink, Link: "busybox", Mode: 0o777},
		testimage.File{Name: "usr/bin/apt-get", Body: "\x7fELF apt", Mode: 0o755},
		testimage.File{Name: "usr/bin/curl", Body: "\x7fELF curl", Mode: 0o755},
		testimage.File{Name: "usr/bin/nc", Type: tar.TypeSymlink, Link: "/bin/busybox", Mode: 0o777},
		testimage.File{Name: "usr/bin/passwd", Body: "\x7fELF passwd", Mode: 0o4755},
		testimage.File{Name: "etc/app.conf", Body: "x=1\n", Mode: 0o666},
		testimage.File{Name: "var/data/", Type: tar.TypeDir, Mode: 0o777},
		testimage.File{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
	)
	miner := testimage.Layer(t,
		testimage.File{Name: "opt/xmrig", Body: "\x7fELF miner", Mode: 0o755},
		testimage.File{Name: "opt/pool.json", Body: `{"url": "stratum+tcp://pool.example:3333"}`},
	)
	secret := testimage.Layer(t, testimage.File{Name: "root/.ssh/id_rsa", Body: key, Mode: 0o600},
		// Test fixtures are not secrets.
		testimage.File{Name: "usr/lib/python3/site-packages/tornado/test/test.key", Body: key},
		testimage.File{Name: "app/.aws/credentials", Body: "[default]\naws_access_key_id = " + testAWSKeyID + "\naws_secret_access_key = " + awsSecret + "\n"})
	deleted := testimage.Layer(t, testimage.File{Name: "root/.ssh/.wh.id_rsa"})
	return testimage.Build(t, v1.Config{
		Env:          []string{"PATH=/usr/bin:/bin", "DB_PASSWORD=hunter2-hunter2", "GITHUB_TOKEN=" + githubPAT()},
		ExposedPorts: map[string]struct{}{"22/tcp": {}, "8080/tcp": {}},
	}, base, miner, secret, deleted)
}

// Made-up credentials of the real formats: an AWS key pair, and a GitHub
// classic token with a valid checksum.
const (
	testAWSKeyID = "AKIAQ3EXAMPLEZ7K2M4P"
	awsSecret    = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEYq"
)

func githubPAT() string {
	content := "customsTestTokenNotReal1234567"
	n := crc32.ChecksumIEEE([]byte(content))
	const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = b62[n%62]
		n /= 62
	}
	return "ghp_" + content + string(sum)
}

// want is a finding the test expects: rule, layer and path.
type want struct {
	rule  string
	layer int
	path  string
}

func TestDirtyImage(t *testing.T) {
	key := testimage.PrivateKey(t)
	img := dirtyImage(t, key)
	for _, mode := range []string{"own", "tee"} {
		t.Run(mode, func(t *testing.T) {
			s := NewScanner(img, "registry.example/app:latest")
			if mode == "tee" {
				readAll(t, s.Image())
			}
			rep, err := s.Report(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := map[want]Finding{}
			for _, f := range rep.Findings {
				got[want{f.Rule, f.Layer, f.Path}] = f
			}
			for _, w := range []want{
				{RootUser, -1, "config:User"},
				{ExposedPort, -1, "config:ExposedPorts[22/tcp]"},
				{ExposedPort, -1, "config:ExposedPorts[8080/tcp]"},
				{CredentialEnv, -1, "config:Env[DB_PASSWORD]"},
				{NoHealthcheck, -1, "config:Healthcheck"},
				{UnpinnedTag, -1, "reference"},
				{Shell, 0, "/bin/sh"},
				{Shell, 0, "/bin/busybox"},
				{PackageManager, 0, "/usr/bin/apt-get"},
				{AttackTool, 0, "/usr/bin/curl"},
				{AttackTool, 0, "/usr/bin/nc"},
				{Setuid, 0, "/usr/bin/passwd"},
				{WorldWritable, 0, "/etc/app.conf"},
				{WorldWritable, 0, "/var/data"},
				{Miner, 1, "/opt/xmrig"},
				{Miner, 1, "/opt/pool.json"},
				{Secret, 2, "/root/.ssh/id_rsa"},
				{Secret, 2, "/app/.aws/credentials"},
				{Secret, -1, "config:Env[GITHUB_TOKEN]"},
				{DeletedFile, 2, "/root/.ssh/id_rsa"},
			} {
				f, ok := got[w]
				if !ok {
					t.Errorf("no %s finding at layer %d, %s", w.rule, w.layer, w.path)
					continue
				}
				delete(got, w)
				types := map[string]string{"/app/.aws/credentials": "aws-access-key", "config:Env[GITHUB_TOKEN]": "github-classic-pat", "/root/.ssh/id_rsa": "private-key"}
				if w.rule == Secret && f.SecretType != types[w.path] {
					t.Errorf("%s: secret type %q, want %q", w.path, f.SecretType, types[w.path])
				}
				if f.Title == "" || f.Fix == "" || f.Severity == 0 {
					t.Errorf("%s: no title, fix or severity: %+v", w.rule, f)
				}
				if w.layer >= 0 && (f.LayerDigest == "" || f.CreatedBy == "") {
					t.Errorf("%s: layer digest or build step missing: %+v", w.rule, f)
				}
			}
			for w, f := range got {
				t.Errorf("unexpected finding %+v: %s", w, f.Detail)
			}
			if rep.Minimal {
				t.Error("an image with a shell is reported minimal")
			}
			b, _ := json.Marshal(rep)
			for _, line := range strings.Split(strings.TrimSpace(key), "\n")[1:3] {
				if bytes.Contains(b, []byte(line)) {
					t.Errorf("the private key's text is in the report")
				}
			}
			for _, v := range []string{"hunter2", awsSecret, testAWSKeyID, githubPAT()} {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("the value %s is in the report", v)
				}
			}

		})
	}
}

func TestCleanImage(t *testing.T) {
	img := testimage.Build(t, v1.Config{
		User:        "10001:10001",
		Env:         []string{"PATH=/app", "PASSWORD_FILE=/run/secrets/db", "TOKEN_TTL=3600"},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "/app/server", "-health"}},
	}, testimage.Layer(t,
		testimage.File{Name: "app/", Type: tar.TypeDir},
		testimage.File{Name: "app/server", Body: "\x7fELF server", Mode: 0o755},
		testimage.File{Name: "etc/passwd", Body: "app:x:10001:10001::/app:/sbin/nologin\n"},
		testimage.File{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
	))
	rep, err := NewScanner(img, "registry.example/app@sha256:"+strings.Repeat("a", 64)).Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Errorf("a clean image has findings: %+v", rep.Findings)
	}
	if !rep.Minimal || rep.User != "10001:10001" || rep.Files != 4 {
		t.Errorf("report: %+v", rep)
	}
}

// A layer read only in part through the tee is read again by Report.
func TestPartlyReadLayer(t *testing.T) {
	img := dirtyImage(t, testimage.PrivateKey(t))
	s := NewScanner(img, "")
	ls, _ := s.Image().Layers()
	rc, err := ls[2].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	rc.Read(make([]byte, 10))
	rc.Close()
	rep, err := s.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || f.Rule == Secret && f.Layer == 2
	}
	if !found {
		t.Error("the secret of a partly read layer was not found")
	}
}

func TestRunsAsRoot(t *testing.T) {
	for user, root := range map[string]bool{"": true, "root": true, "0": true, "0:0": true, "root:app": true, "app": false, "10001": false, "1000:0": false} {
		if runsAsRoot(user) != root {
			t.Errorf("runsAsRoot(%q) = %v", user, !root)
		}
	}
}

func readAll(t *testing.T, img v1.Image) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}
}

// FuzzLayer feeds arbitrary bytes to the layer reader and the report, as a
// hostile layer would: no panic, and the reader reads to the end.
func FuzzLayer(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/sh", Mode: 0o4755, Size: 4},
		{Name: "etc/.wh.passwd"},
		{Name: "x/.wh..wh..opq"},
		{Name: "../../etc/key", Size: 4},
	} {
		tw.WriteHeader(h)
		tw.Write(make([]byte, h.Size))
	}
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nstratum+tcp://"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		res := readLayer(r, 0, "sha256:x")
		if r.Len() != 0 {
			t.Fatalf("%d bytes left unread", r.Len())
		}
		finish([]*layerResult{res, res}, nil, "")
	})
}

// FuzzConfig checks arbitrary image configs.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"config":{"User":"0:0","Env":["A_TOKEN=abcdef","X"],"ExposedPorts":{"22/tcp":{}}},"history":[{"created_by":"|1 DB_PASSWORD=x /bin/sh -c true"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
		if err != nil {
			return
		}
		finish(nil, cfg, "registry.example/app")
	})
}

func TestMinerStrings(t *testing.T) {
	if poolStrings[0] != "stratum+tcp://" || poolStrings[5] != `"donate-level"` || minerStrings[0] != "xmrig" {
		t.Errorf("miner strings: %q %q", poolStrings, minerStrings)
	}
	// One string in an executable is not enough (a scanner carries such
	// rules); two are.
	for _, tc := range []struct {
		data string
		text bool
		want bool
	}{
		{"url: stratum+tcp://pool:3333", true, true},
		{"\x7fELF xmrig", false, false},
		{"\x7fELF xmrig stratum+tcp://", false, true},
	} {
		seen := minerSeen{}
		seen.search([]byte(tc.data))
		if _, got := seen.verdict(tc.text); got != tc.want {
			t.Errorf("%q (text %v): miner %v", tc.data, tc.text, got)
		}
	}
}

func TestPrefilters(t *testing.T) {
	for in, want := range map[string]bool{"aws_access_key_id = " + testAWSKeyID: true, "ASIA pacific": false, "AKIA": false} {
		if awsKeyID([]byte(in)) != want {
			t.Errorf("awsKeyID(%q) = %v", in, !want)
		}
	}
	key := strings.Repeat("Ab1+", 21) + "Zz=="
	for in, want := range map[string]bool{"AccountKey=" + key: true, "x==": false, strings.Repeat("-", 90) + "==": false} {
		if azureKey([]byte(in)) != want {
			t.Errorf("azureKey(%q) = %v", in, !want)
		}
	}
	if got := findSecrets([]byte("AZURE_STORAGE_KEY=" + key + "\n")); len(got) != 1 || got[0].rule != "azure-storage-key" {
		t.Errorf("an Azure storage key in an environment file: %+v", got)
	}
}
