package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
	"github.com/customs-dev/customs/internal/testimage"
	"github.com/customs-dev/customs/verify"
)

// realCosign runs the cosign binary named by $COSIGN (v2.6.5 in CI:
// .ci/run builds it) offline, with a key pair of its own, against a
// plain-HTTP registry on loopback.
type realCosign struct {
	bin, dir string
	key, pub string // the key pair cosign made
	root     string // an empty trusted root, for the new bundle format
	t        *testing.T
}

func newRealCosign(t *testing.T) *realCosign {
	t.Helper()
	bin := os.Getenv("COSIGN")
	if bin == "" {
		t.Skip("skipping: COSIGN is not set (GOBIN=DIR go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5; .ci/run does)")
	}
	c := &realCosign{bin: bin, dir: t.TempDir(), t: t}
	c.mustRun("generate-key-pair", "--output-key-prefix", filepath.Join(c.dir, "cosign"))
	c.key, c.pub = filepath.Join(c.dir, "cosign.key"), filepath.Join(c.dir, "cosign.pub")
	// cosign verifies the new bundle format only with a trusted root, even
	// for a key and no log: an empty one, as nothing in it is used.
	c.root = filepath.Join(c.dir, "trusted_root.json")
	if err := os.WriteFile(c.root, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs cosign and returns its combined output and whether it
// succeeded.
func (c *realCosign) run(args ...string) (string, bool) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	// No network but the registry: no TUF, no Rekor, no Fulcio.
	cmd.Env = []string{"HOME=" + c.dir, "PATH=" + os.Getenv("PATH"), "COSIGN_PASSWORD=", "COSIGN_YES=true", "COSIGN_EXPERIMENTAL=1",
		"TUF_ROOT=" + filepath.Join(c.dir, "tuf"), "SIGSTORE_NO_CACHE=true"}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func (c *realCosign) mustRun(args ...string) string {
	c.t.Helper()
	out, ok := c.run(args...)
	if !ok {
		c.t.Fatalf("cosign %s:\n%s", strings.Join(args, " "), out)
	}
	return out
}

// registryFlags let cosign use the plain-HTTP registry.
var registryFlags = []string{"--allow-insecure-registry", "--allow-http-registry"}

func (c *realCosign) sign(ref string, extra ...string) {
	c.t.Helper()
	args := append([]string{"sign", "--key", c.key, "--tlog-upload=false", "-y"}, registryFlags...)
	c.mustRun(append(append(args, extra...), ref)...)
}

func (c *realCosign) attest(ref, predicateType, predicate string, extra ...string) {
	c.t.Helper()
	p := filepath.Join(c.dir, "predicate-"+predicateType+".json")
	if err := os.WriteFile(p, []byte(predicate), 0o644); err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"attest", "--key", c.key, "--tlog-upload=false", "-y", "--type", predicateType, "--predicate", p}, registryFlags...)
	c.mustRun(append(append(args, extra...), ref)...)
}

// verdicts runs `cosign verify…` and `customs verify…` and returns
// whether cosign passed, customs' exit code and standard error, and both
// outputs for messages.
func verdicts(t *testing.T, c *realCosign, cosignArgs, customsArgs []string) (cosignOK bool, code int, stderr, detail string) {
	t.Helper()
	out, cok := c.run(append(append([]string{}, cosignArgs...), registryFlags...)...)
	stdout, stderr, code := customs(t, cacheEnv(t), customsArgs...)
	return cok, code, stderr, "cosign " + strings.Join(cosignArgs, " ") + ":\n" + out + "\ncustoms " + strings.Join(customsArgs, " ") + ":\n" + stdout + stderr
}

// TestCosignInterop signs with the real cosign into the real registry
// (Debian's Distribution, which has no referrers API) in every layout
// cosign writes, and holds customs' verdict to cosign's.
func TestCosignInterop(t *testing.T) {
	c := newRealCosign(t)
	reg := registrytest.Start(t, registrytest.Options{})
	keyFlags := []string{"--key", c.pub, "--insecure-ignore-tlog"}
	push := func(repo string) string {
		ref := reg.Host + "/" + repo
		d := signtest.Push(t, ref+":1", signtest.Image(t))
		return ref + "@" + d.String()
	}

	type tc struct {
		name         string
		ref          string
		cosign       []string // after "verify" / "verify-attestation"
		customs      []string // after "verify"
		want         bool     // the verdict both must give
		deliberately string   // why customs may differ from cosign
	}
	var cases []tc

	// Classic tag layout, with and without annotations.
	tagRef := push("tag")
	c.sign(tagRef, "-a", "env=prod")
	cases = append(cases,
		tc{name: "tag", ref: tagRef, cosign: []string{"verify"}, customs: nil, want: true},
		tc{name: "tag, annotation required and present", ref: tagRef, cosign: []string{"verify", "-a", "env=prod"}, customs: []string{"-a", "env=prod"}, want: true},
		tc{name: "tag, annotation with another value", ref: tagRef, cosign: []string{"verify", "-a", "env=dev"}, customs: []string{"-a", "env=dev"}, want: false},
		tc{name: "tag, annotation missing", ref: tagRef, cosign: []string{"verify", "-a", "team=x"}, customs: []string{"-a", "team=x"}, want: false},
	)
	// The new bundle format, which cosign v2.6.5 stores in the referrers
	// tag on a registry without the referrers API.
	bundleRef := push("bundle")
	c.sign(bundleRef, "--new-bundle-format")
	cases = append(cases, tc{name: "new bundle format", ref: bundleRef, cosign: []string{"verify", "--new-bundle-format", "--trusted-root", c.root}, want: true})
	// The classic signature as an OCI 1.1 referrer (an experimental mode
	// of cosign v2; the referrers tag on this registry).
	ociRef := push("oci11")
	c.sign(ociRef, "--registry-referrers-mode=oci-1-1")
	cases = append(cases, tc{name: "referrers mode oci-1-1", ref: ociRef, cosign: []string{"verify", "--experimental-oci11"}, want: true})
	// Attestations, classic and as bundles.
	attRef := push("att")
	c.sign(attRef)
	for pt, predicate := range map[string]string{
		"slsaprovenance": `{"builder":{"id":"https://example.com/builder"},"buildType":"https://example.com/type","invocation":{}}`,
		"cyclonedx":      `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}`,
		"vuln":           `{"invocation":{},"scanner":{"uri":"https://example.com/scanner","version":"1","result":[]},"metadata":{"scanStartedOn":"2026-12-07T00:00:00Z","scanFinishedOn":"2026-12-07T00:00:01Z"}}`,
	} {
		c.attest(attRef, pt, predicate)
		cases = append(cases, tc{name: "attestation " + pt, ref: attRef, cosign: []string{"verify-attestation", "--type", pt}, customs: []string{"--attestation", pt}, want: true})
	}
	attBundleRef := push("att-bundle")
	c.sign(attBundleRef, "--new-bundle-format")
	c.attest(attBundleRef, "slsaprovenance", `{"builder":{"id":"https://example.com/builder"},"buildType":"https://example.com/type","invocation":{}}`, "--new-bundle-format")
	cases = append(cases, tc{name: "attestation as a bundle", ref: attBundleRef, cosign: []string{"verify-attestation", "--new-bundle-format", "--trusted-root", c.root, "--type", "slsaprovenance"}, customs: []string{"--attestation", "slsaprovenance"}, want: true})
	// An attestation alone is no signature: cosign verify finds the
	// bundle, customs wants a message signature.
	onlyAtt := push("only-att")
	c.attest(onlyAtt, "slsaprovenance", `{"builder":{"id":"https://example.com/builder"},"buildType":"https://example.com/type","invocation":{}}`, "--new-bundle-format")
	cases = append(cases, tc{name: "an attestation alone", ref: onlyAtt, cosign: []string{"verify", "--new-bundle-format", "--trusted-root", c.root}, want: false,
		deliberately: "an attestation never counts as a signature (docs/verify.md)"})
	// A multi-arch index signed with --recursive: the index and each
	// platform.
	idx := testimage.Index(t, map[string]v1.Image{"amd64": signtest.Image(t), "arm64": signtest.Image(t)})
	idxRepo := reg.Host + "/multi"
	r, _ := name.ParseReference(idxRepo+":1", name.Insecure)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	idxRef := idxRepo + "@" + idxDigest.String()
	c.sign(idxRef, "--recursive")
	cases = append(cases,
		tc{name: "multi-arch, the index", ref: idxRef, cosign: []string{"verify"}, want: true},
		tc{name: "multi-arch, each platform", ref: idxRef, cosign: []string{"verify"}, customs: []string{"--multi-arch", "each"}, want: true},
	)
	unsignedRef := push("unsigned")
	cases = append(cases, tc{name: "unsigned", ref: unsignedRef, cosign: []string{"verify"}, want: false})

	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			cargs := append(append(append([]string{}, k.cosign...), keyFlags...), k.ref)
			args := append(append([]string{"verify", k.ref}, keyFlags...), k.customs...)
			cok, code, _, detail := verdicts(t, c, cargs, args)
			ok := code == 0
			if ok != k.want {
				t.Errorf("customs verify: passed=%v, want %v\n%s", ok, k.want, detail)
			}
			if cok != ok && k.deliberately == "" {
				t.Errorf("cosign passed=%v, customs passed=%v\n%s", cok, ok, detail)
			}
		})
	}

	// Blobs, in cosign v2's own bundle format (the default of sign-blob
	// --bundle) and as a Sigstore bundle.
	blob := filepath.Join(c.dir, "blob.txt")
	if err := os.WriteFile(blob, []byte("a release artifact\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(c.dir, "tampered.txt")
	if err := os.WriteFile(tampered, []byte("a release artifact, edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []struct{ name, flag string }{{"cosign v2 bundle", ""}, {"Sigstore bundle", "--new-bundle-format"}} {
		b := filepath.Join(c.dir, strings.ReplaceAll(format.name, " ", "-")+".json")
		args := []string{"sign-blob", "--key", c.key, "--tlog-upload=false", "-y", "--bundle", b}
		if format.flag != "" {
			args = append(args, format.flag)
		}
		c.mustRun(append(args, blob)...)
		for _, file := range []string{blob, tampered} {
			want := file == blob
			t.Run("blob, "+format.name+", "+filepath.Base(file), func(t *testing.T) {
				cargs := append([]string{"verify-blob", "--key", c.pub, "--insecure-ignore-tlog", "--bundle", b}, file)
				if format.flag != "" {
					cargs = append([]string{"verify-blob", format.flag, "--trusted-root", c.root, "--key", c.pub, "--insecure-ignore-tlog", "--bundle", b}, file)
				}
				out, cok := c.run(cargs...)
				stdout, stderr, code := customs(t, cacheEnv(t), "verify", "blob", file, "--bundle", b, "--key", c.pub, "--insecure-ignore-tlog")
				if (code == 0) != want || cok != want {
					t.Errorf("cosign passed=%v, customs exit %d; want passed=%v\ncosign: %s\ncustoms: %s%s", cok, code, want, out, stdout, stderr)
				}
			})
		}
	}

	// Signing times are never later than the signature: cosign signed
	// these before signedBy, with neither a log entry nor a timestamp, so
	// no output may claim a time at all (the old bug claimed the time of
	// verification).
	signedBy := time.Now()
	t.Run("no signing time later than the signature", func(t *testing.T) {
		policy := filepath.Join(c.dir, "policy.yaml")
		if err := os.WriteFile(policy, []byte("version: 1\nimages:\n  - pattern: "+reg.Host+"/**\n    authorities: [{key: "+c.pub+"}]\n    insecure-ignore-tlog: true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			append([]string{"verify", tagRef, "-o", "json"}, keyFlags...),
			append([]string{"verify", bundleRef, "-o", "json"}, keyFlags...),
			append([]string{"verify", attRef, "-o", "json", "--attestation", "slsaprovenance"}, keyFlags...),
			{"verify", "blob", blob, "--bundle", filepath.Join(c.dir, "cosign-v2-bundle.json"), "--key", c.pub, "--insecure-ignore-tlog", "-o", "json"},
			{"scan", tagRef, "--policy", policy, "--db", filepath.Join(testimage.Root(), "testdata", "osv-demo"), "-o", "json"},
		} {
			stdout, stderr, code := customs(t, cacheEnv(t), args...)
			if code != 0 {
				t.Errorf("customs %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
				continue
			}
			var doc any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("customs %s: %v\n%s", strings.Join(args, " "), err, stdout)
			}
			if ats := signedAts(doc); len(ats) > 0 {
				t.Errorf("customs %s: signed_at %q, but the signature was made before %s with nothing to date it", strings.Join(args, " "), ats, signedBy.Format(time.RFC3339Nano))
			}
		}
	})

	t.Run("max-age without a signing time", func(t *testing.T) {
		_, stderr, code := customs(t, cacheEnv(t), append(append([]string{"verify", tagRef}, keyFlags...), "--max-age", "60s")...)
		if code != 1 || !strings.Contains(stderr, verify.CheckTooOld) || !strings.Contains(stderr, verify.ErrNoSigningTime.Error()) {
			t.Errorf("--insecure-ignore-tlog --max-age 60s on a signature without a timestamp: exit %d\n%s", code, stderr)
		}
	})
}

// TestCosignTampering edits what the real cosign stored, as an attacker
// with write access to the registry would: each edit fails with exit 1
// and names the check, and cosign agrees that it fails.
func TestCosignTampering(t *testing.T) {
	c := newRealCosign(t)
	reg := registrytest.Start(t, registrytest.Options{})
	keyFlags := []string{"--key", c.pub, "--insecure-ignore-tlog"}
	image := func(repo string) (string, v1.Hash) {
		d := signtest.Push(t, reg.Host+"/"+repo+":1", signtest.Image(t))
		return reg.Host + "/" + repo + "@" + d.String(), d
	}
	sigTag := func(repo string, d v1.Hash) name.Reference {
		r, err := name.ParseReference(reg.Host+"/"+repo+":"+d.Algorithm+"-"+d.Hex+".sig", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// rewrite replaces the signature image under a tag with one whose
	// single layer edit changes.
	rewrite := func(from, to name.Reference, edit func(payload []byte, ann map[string]string) []byte) {
		t.Helper()
		img, err := remote.Image(from)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := img.Manifest()
		layers, _ := img.Layers()
		b, err := readAll(layers[0])
		if err != nil {
			t.Fatal(err)
		}
		ann := map[string]string{}
		for k, v := range m.Layers[0].Annotations {
			ann[k] = v
		}
		b = edit(b, ann)
		out, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(b, types.MediaType(m.Layers[0].MediaType)), Annotations: ann})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(to, mutate.MediaType(out, m.MediaType)); err != nil {
			t.Fatal(err)
		}
	}

	payloadRef, payloadD := image("payload")
	c.sign(payloadRef)
	rewrite(sigTag("payload", payloadD), sigTag("payload", payloadD), func(p []byte, _ map[string]string) []byte {
		return bytes.Replace(p, []byte(`"optional":null`), []byte(`"optional":{"env":"prod"}`), 1)
	})
	swapRef, swapD := image("swap")
	otherRef, otherD := image("swap-other")
	c.sign(swapRef)
	c.sign(otherRef)
	other, _ := remote.Image(sigTag("swap-other", otherD))
	om, _ := other.Manifest()
	rewrite(sigTag("swap", swapD), sigTag("swap", swapD), func(p []byte, ann map[string]string) []byte {
		ann["dev.cosignproject.cosign/signature"] = om.Layers[0].Annotations["dev.cosignproject.cosign/signature"]
		return p
	})
	movedRef, movedD := image("moved")
	signedRef, signedD := image("moved-signed")
	c.sign(signedRef)
	rewrite(sigTag("moved-signed", signedD), sigTag("moved", movedD), func(p []byte, _ map[string]string) []byte { return p })
	annRef, annD := image("annotation")
	c.sign(annRef, "-a", "env=prod")
	rewrite(sigTag("annotation", annD), sigTag("annotation", annD), func(p []byte, _ map[string]string) []byte {
		return bytes.Replace(p, []byte(`"env":"prod"`), []byte(`"env":"dev"`), 1)
	})

	for _, k := range []struct {
		name, ref, check string
		extra            []string
	}{
		{"payload edited", payloadRef, verify.CheckKey, nil},
		{"signature swapped", swapRef, verify.CheckKey, nil},
		{"signature moved to another image", movedRef, verify.CheckDigest, nil},
		{"annotation changed", annRef, verify.CheckKey, []string{"-a", "env=dev"}},
	} {
		t.Run(k.name, func(t *testing.T) {
			cargs := append(append(append([]string{"verify"}, keyFlags...), k.extra...), k.ref)
			args := append(append([]string{"verify", k.ref}, keyFlags...), k.extra...)
			cok, code, stderr, detail := verdicts(t, c, cargs, args)
			if code != 1 || !strings.Contains(stderr, "verification failed: "+k.check) {
				t.Errorf("customs: exit %d, want 1 naming %q\n%s", code, k.check, detail)
			}
			if cok {
				t.Errorf("cosign accepted the tampered signature\n%s", detail)
			}
		})
	}
}

// signedAts finds every signed_at in a JSON document.
func signedAts(doc any) []string {
	var out []string
	switch v := doc.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "signed_at" {
				out = append(out, s)
			}
			out = append(out, signedAts(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, signedAts(e)...)
		}
	}
	return out
}

func readAll(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	return b.Bytes(), err
}
