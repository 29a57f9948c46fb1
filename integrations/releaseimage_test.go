package integrations

import (
	"archive/tar"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/testimage"
)

// TestReleaseImageScan scans an image assembled as .goreleaser.yml's ko
// build makes the release image: the customs executable, built as the
// release builds it (CGO_ENABLED=0, -trimpath), at /ko-app/customs on a
// distroless-like base (passwd with nonroot, CA certificates, /tmp), run as
// 65532:65532. The real base, gcr.io/distroless/static-debian12:nonroot, is
// not reachable here. The scan must pass with the shared OSV data and
// .customs-self.yaml, and with the strictest posture: no root user, shell,
// package manager, attack tool, setuid file or world-writable path.
func TestReleaseImageScan(t *testing.T) {
	osv := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv")
	if _, err := os.Stat(filepath.Join(osv, "Go", "all.zip")); err != nil {
		t.Skipf("skipping: the shared OSV data is absent: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "customs")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/customs")
	build.Dir = testimage.Root()
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building customs: %v\n%s", err, out)
	}
	exe, _ := os.ReadFile(bin)
	certs, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	img := testimage.Build(t, v1.Config{User: "65532:65532", Entrypoint: []string{"/ko-app/customs"}, Env: []string{"PATH=/ko-app", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}},
		testimage.Layer(t,
			testimage.File{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
			testimage.File{Name: "etc/group", Body: "root:x:0:\nnonroot:x:65532:\n"},
			testimage.File{Name: "etc/ssl/certs/ca-certificates.crt", Body: string(certs)},
			testimage.File{Name: "home/nonroot/", Type: tar.TypeDir, Mode: 0o700, UID: 65532},
			testimage.File{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		),
		testimage.Layer(t, testimage.File{Name: "ko-app/customs", Body: string(exe), Mode: 0o755}),
	)
	layout := filepath.Join(dir, "layout")
	testimage.WriteLayout(t, layout, img, nil, "release")

	out := filepath.Join(dir, "report.json")
	cmd := exec.Command(buildCustoms(t), "scan", "oci:"+layout+":release", "--db", osv, "--db-warn-age", "0",
		"--config", filepath.Join(testimage.Root(), ".customs-self.yaml"),
		"--require-posture", "root-user,shell,package-manager,attack-tool,setuid,world-writable,credential-env",
		"-o", "json="+out, "-o", "table")
	cmd.Env = append(os.Environ(), "CUSTOMS_CACHE="+t.TempDir())
	table, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("customs scan of the release image: exit %d\n%s", code, table)
	}
	var r struct {
		Packages struct{ Total int }
		Posture  struct {
			Minimal  bool
			User     string
			Findings []struct{ ID string }
		}
	}
	b, _ := os.ReadFile(out)
	json.Unmarshal(b, &r)
	var ids []string
	for _, f := range r.Posture.Findings {
		ids = append(ids, f.ID)
	}
	if !r.Posture.Minimal || r.Posture.User != "65532:65532" || r.Packages.Total < 50 || strings.Join(ids, ",") != "no-healthcheck" {
		t.Errorf("release image: minimal %v, user %q, %d packages, posture findings %v; want minimal, 65532:65532, the Go modules, only no-healthcheck\n%s",
			r.Posture.Minimal, r.Posture.User, r.Packages.Total, ids, table)
	}
}
