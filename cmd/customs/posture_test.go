package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
)

// leakyImage runs as a user, has a health check and no tools, but its
// second layer adds a private key that its third deletes, and its config
// sets a password.
func leakyImage(t *testing.T, key string) v1.Image {
	return testimage.Build(t, v1.Config{
		User:        "10001",
		Env:         []string{"DB_PASSWORD=correct-horse-battery"},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "/app/server", "-health"}},
	},
		testimage.Layer(t, testimage.File{Name: "app/server", Body: "\x7fELF server", Mode: 0o755}),
		testimage.Layer(t, testimage.File{Name: "app/deploy_key", Body: key, Mode: 0o600}),
		testimage.Layer(t, testimage.File{Name: "app/.wh.deploy_key"}),
	)
}

// toolImage runs as root and carries a shell and curl, and nothing worse.
func toolImage(t *testing.T) v1.Image {
	return testimage.Build(t, v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}}},
		testimage.Layer(t,
			testimage.File{Name: "bin/sh", Body: "\x7fELF sh", Mode: 0o755},
			testimage.File{Name: "usr/bin/curl", Body: "\x7fELF curl", Mode: 0o755},
			testimage.File{Name: "usr/bin/passwd", Body: "\x7fELF passwd", Mode: 0o4755},
			testimage.File{Name: "srv/", Type: tar.TypeDir, Mode: 0o777},
		))
}

// TestScanPosture checks the posture findings through the CLI: a secret
// added and deleted is found in its layer and shown in no format, the
// default policy fails on it, ignores with a path silence it, and
// --require-posture and a trust policy's posture list fail an image that
// breaks them.
func TestScanPosture(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	env := cacheEnv(t)
	key := testimage.PrivateKey(t)
	leaky := filepath.Join(dir, "leaky.tar")
	testimage.WriteDockerArchive(t, leakyImage(t, key), leaky, true)

	outs := map[string]string{}
	args := []string{"scan", "docker-archive:" + leaky, "--db", db}
	for _, f := range []string{"json", "table", "sarif", "markdown", "junit", "gitlab", "cyclonedx-json", "openvex"} {
		outs[f] = filepath.Join(dir, "leaky."+f)
		args = append(args, "-o", f+"="+outs[f])
	}
	stdout, stderr, code := customs(t, env, args...)
	if code != 1 || !strings.Contains(stderr, "posture rule secret is required and broken") || !strings.Contains(stderr, "/app/deploy_key") {
		t.Fatalf("leaky image: exit %d, want 1 naming the secret\n%s%s", code, stdout, stderr)
	}
	secretLines := strings.Split(strings.TrimSpace(key), "\n")
	for f, path := range outs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range secretLines[1 : len(secretLines)-1] {
			if strings.Contains(string(b), line) {
				t.Errorf("%s: the private key's text is in the report", f)
				break
			}
		}
		if strings.Contains(string(b), "correct-horse-battery") {
			t.Errorf("%s: the password is in the report", f)
		}
		if !strings.Contains(string(b), "deploy_key") {
			t.Errorf("%s: the secret's path is not in the report", f)
		}
	}
	var r struct {
		Posture struct {
			Findings []struct {
				ID, Path, Status string
				Layer            int
				Fails            bool
			}
		}
	}
	b, _ := os.ReadFile(outs["json"])
	json.Unmarshal(b, &r)
	got := map[string]bool{}
	for _, f := range r.Posture.Findings {
		got[fmt.Sprintf("%s %s %d", f.ID, f.Path, f.Layer)] = f.Fails
	}
	for want, fails := range map[string]bool{
		"secret /app/deploy_key 1":                  true,
		"deleted-file /app/deploy_key 1":            false,
		"credential-env config:Env[DB_PASSWORD] -1": false, // the config
	} {
		if f, ok := got[want]; !ok || f != fails {
			t.Errorf("no finding %q (fails %v) in %v", want, fails, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("findings: %v; want the three above", got)
	}
	sarif, _ := os.ReadFile(outs["sarif"])
	if !strings.Contains(string(sarif), `"id": "customs/posture/secret"`) || !strings.Contains(string(sarif), "Rotate the credential now") {
		t.Errorf("SARIF has no posture rule with help:\n%s", sarif)
	}

	// An ignore with a path silences the finding; the report says why.
	cfg := filepath.Join(dir, "ignore.yaml")
	os.WriteFile(cfg, []byte("ignore:\n  - id: secret\n    path: /app/*\n    reason: a test key, never deployed\n    until: 2099-01-01\n"), 0o644)
	stdout, stderr, code = customs(t, env, "scan", "docker-archive:"+leaky, "--db", db, "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "ignored") {
		t.Errorf("ignored secret: exit %d, want 0\n%s%s", code, stdout, stderr)
	}

	// The tool image passes by default, and fails what is required of it.
	tools := filepath.Join(dir, "tools.tar")
	testimage.WriteDockerArchive(t, toolImage(t), tools, true)
	stdout, stderr, code = customs(t, env, "scan", "docker-archive:"+tools, "--db", db)
	if code != 0 || !strings.Contains(stdout, "attack-tool") || !strings.Contains(stdout, "/usr/bin/curl") {
		t.Errorf("tool image: exit %d, want 0 with the findings listed\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = customs(t, env, "scan", "docker-archive:"+tools, "--db", db, "--require-posture", "root-user,attack-tool")
	if code != 1 || !strings.Contains(stderr, "posture rule attack-tool is required and broken") || !strings.Contains(stderr, "posture rule root-user") {
		t.Errorf("--require-posture: exit %d, want 1\n%s", code, stderr)
	}
	// Against a baseline that had the same findings, they are existing:
	// they fail only with --fail-on-existing.
	base := filepath.Join(dir, "base.json")
	if _, stderr, code = customs(t, env, "scan", "docker-archive:"+tools, "--db", db, "-o", "json="+base); code != 0 {
		t.Fatalf("baseline scan: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = customs(t, env, "scan", "docker-archive:"+tools, "--db", db, "--require-posture", "root-user,attack-tool", "--baseline", base, "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"baseline": "existing"`) {
		t.Errorf("--baseline: exit %d, want 0 with the findings existing\n%s%s", code, stdout, stderr)
	}
	if _, _, code = customs(t, env, "scan", "docker-archive:"+tools, "--db", db, "--require-posture", "root-user", "--baseline", base, "--fail-on-existing"); code != 1 {
		t.Errorf("--baseline --fail-on-existing: exit %d, want 1", code)
	}
	_, stderr, code = customs(t, env, "scan", "docker-archive:"+tools, "--db", db, "--require-posture", "no-such-rule")
	if code != 2 || !strings.Contains(stderr, "root-user") {
		t.Errorf("unknown rule: exit %d, want 2 listing the rules\n%s", code, stderr)
	}
	// The limits on files stop an image that breaks them (exit 2, naming
	// the flag).
	for flag, value := range map[string]string{"--max-files": "2", "--max-file-size": "100", "--max-manifest-size": "200"} {
		_, stderr, code = customs(t, env, "scan", "docker-archive:"+leaky, "--db", db, flag, value, "--cache-dir", t.TempDir())
		if code != 2 || !strings.Contains(stderr, "raise it with "+flag) {
			t.Errorf("%s %s: exit %d, want 2 naming the flag\n%s", flag, value, code, stderr)
		}
	}
	sbomFile := filepath.Join(dir, "big.cdx.json")
	os.WriteFile(sbomFile, make([]byte, 2048), 0o644)
	_, stderr, code = customs(t, env, "scan", "sbom:"+sbomFile, "--db", db, "--max-sbom-size", "1KiB")
	if code != 2 || !strings.Contains(stderr, "raise it with --max-sbom-size") {
		t.Errorf("--max-sbom-size: exit %d, want 2 naming the flag\n%s", code, stderr)
	}
	// --posture=false skips the checks.
	stdout, _, code = customs(t, env, "scan", "docker-archive:"+leaky, "--db", db, "--posture=false")
	if code != 0 || strings.Contains(stdout, "posture") {
		t.Errorf("--posture=false: exit %d\n%s", code, stdout)
	}

	// A trust policy's image entry requires posture rules of the images it
	// matches.
	reg := registrytest.Start(t, registrytest.Options{})
	repo := reg.Host + "/tools"
	signtest.Push(t, repo+":1", toolImage(t))
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    allow-unsigned: true\n    posture: [root-user, setuid]\n"), 0o644)
	_, stderr, code = customs(t, env, "scan", repo+":1", "--policy", policy, "--db", db)
	if code != 1 || !strings.Contains(stderr, "posture rule root-user is required and broken") || !strings.Contains(stderr, "/usr/bin/passwd") {
		t.Errorf("scan --policy with posture: exit %d, want 1\n%s", code, stderr)
	}
	os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    allow-unsigned: true\n    posture: [no-root]\n"), 0o644)
	_, stderr, code = customs(t, env, "scan", repo+":1", "--policy", policy, "--db", db)
	if code != 2 || !strings.Contains(stderr, "policy.yaml:3") {
		t.Errorf("policy with an unknown posture rule: exit %d, want 2 with the line\n%s", code, stderr)
	}
}
