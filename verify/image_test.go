package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/customs-dev/customs/internal/registrytest"
	"github.com/customs-dev/customs/internal/signtest"
)

// signReferrer attaches a Sigstore bundle, made with sigstore-go, as an OCI
// referrer of the image, as cosign v3 does.
func signReferrer(t *testing.T, repo string, img v1.Image, kp *sign.EphemeralKeypair) {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	signtest.Referrer(t, repo, img, &sign.PlainData{Data: raw}, kp, "")
}

// TestImageSignatures signs images in a real registry, in both storage
// schemes, and checks every way verification must fail.
func TestImageSignatures(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	opts := func(pub crypto.PublicKey) Options { return Options{Key: pub, InsecureIgnoreTlog: true} }

	// The tag scheme.
	tagRepo := reg.Host + "/tagged"
	signed := signtest.Image(t)
	d := signtest.Push(t, tagRepo+":1", signed)
	signtest.SignTag(t, tagRepo, d, signtest.Payload(tagRepo, d), key, nil)

	// The referrer scheme.
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	refRepo := reg.Host + "/referred"
	refImg := signtest.Image(t)
	signtest.Push(t, refRepo+":1", refImg)
	signReferrer(t, refRepo, refImg, kp)

	verify := func(ref string, o Options) (*ImageResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return Image(ctx, r, nil, Request{Options: o})
	}
	wantCheck := func(t *testing.T, err error, check string) {
		t.Helper()
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != check {
			t.Fatalf("err = %v, want the check %q to fail", err, check)
		}
	}

	t.Run("tag scheme verifies with the key", func(t *testing.T) {
		r, err := verify(tagRepo+":1", opts(&key.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != d.String() || r.Scheme != SchemeTag || r.Reference != tagRepo+"@"+d.String() {
			t.Errorf("result = %+v", r)
		}
	})
	t.Run("referrer scheme verifies with the key", func(t *testing.T) {
		r, err := verify(refRepo+":1", opts(kp.GetPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		if r.Scheme != SchemeReferrer {
			t.Errorf("scheme = %s, want referrer", r.Scheme)
		}
	})
	t.Run("another key", func(t *testing.T) {
		_, err := verify(tagRepo+":1", opts(&otherKey.PublicKey))
		wantCheck(t, err, CheckKey)
		_, err = verify(refRepo+":1", opts(&otherKey.PublicKey))
		wantCheck(t, err, CheckKey)
	})
	t.Run("a log entry is required unless waived", func(t *testing.T) {
		_, err := verify(tagRepo+":1", Options{Key: &key.PublicKey})
		wantCheck(t, err, CheckTlog)
	})
	t.Run("signature for another image", func(t *testing.T) {
		repo := reg.Host + "/other"
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		otherDigest := signtest.Push(t, repo+":2", signtest.Image(t))
		signtest.SignTag(t, repo, d, signtest.Payload(repo, otherDigest), key, nil)
		_, err := verify(repo+":1", opts(&key.PublicKey))
		wantCheck(t, err, CheckDigest)
	})
	t.Run("tampered payload", func(t *testing.T) {
		repo := reg.Host + "/tampered"
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		signtest.SignTag(t, repo, d, signtest.Payload(repo, d), key, func(p []byte) []byte {
			return append(p[:len(p)-1:len(p)-1], []byte(`,"x":1}`)...)
		})
		_, err := verify(repo+":1", opts(&key.PublicKey))
		if err == nil {
			t.Fatal("a tampered payload verified")
		}
		wantCheck(t, err, CheckKey)
	})
	t.Run("referrer: signature for another image", func(t *testing.T) {
		repo := reg.Host + "/ref-other"
		img, other := signtest.Image(t), signtest.Image(t)
		signtest.Push(t, repo+":1", img)
		raw, _ := other.RawManifest()
		signtest.Referrer(t, repo, img, &sign.PlainData{Data: raw}, kp, "")
		_, err := verify(repo+":1", opts(kp.GetPublicKey()))
		wantCheck(t, err, CheckDigest)
	})
	t.Run("referrer: tampered bundle", func(t *testing.T) {
		repo := reg.Host + "/ref-tampered"
		img := signtest.Image(t)
		signtest.Push(t, repo+":1", img)
		raw, _ := img.RawManifest()
		pb, err := sign.Bundle(&sign.PlainData{Data: raw}, kp, sign.BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pb.GetMessageSignature().Signature[8] ^= 1
		js, _ := protojson.Marshal(pb)
		signtest.AttachBundle(t, repo, img, js, "")
		_, err = verify(repo+":1", opts(kp.GetPublicKey()))
		wantCheck(t, err, CheckKey)
	})
	t.Run("referrer: tag moved to an unsigned digest", func(t *testing.T) {
		signtest.Push(t, refRepo+":1", signtest.Image(t))
		_, err := verify(refRepo+":1", opts(kp.GetPublicKey()))
		wantCheck(t, err, CheckNoSignature)
	})
	t.Run("malformed signature layer", func(t *testing.T) {
		repo := reg.Host + "/malformed"
		d := signtest.Push(t, repo+":1", signtest.Image(t))
		img, _ := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(signtest.Payload(repo, d), "application/vnd.dev.cosign.simplesigning.v1+json"),
			Annotations: map[string]string{AnnotationSignature: "not base64!"}})
		signtest.Push(t, repo+":sha256-"+d.Hex+".sig", img)
		_, err := verify(repo+":1", opts(&key.PublicKey))
		var ce *CheckError
		if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "malformed signature layer") {
			t.Fatalf("err = %v, want a malformed-input error (exit 2), not a failed check", err)
		}
	})
	t.Run("tag moved to an unsigned digest", func(t *testing.T) {
		signtest.Push(t, tagRepo+":1", signtest.Image(t))
		_, err := verify(tagRepo+":1", opts(&key.PublicKey))
		wantCheck(t, err, CheckNoSignature)
		// The signed digest itself still verifies.
		if _, err := verify(tagRepo+"@"+d.String(), opts(&key.PublicKey)); err != nil {
			t.Errorf("the signed digest: %v", err)
		}
	})
}

// TestImageAttestations attests images in a real registry, in both storage
// schemes, and checks the predicate type, the subject and the key.
func TestImageAttestations(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	const slsa1 = "https://slsa.dev/provenance/v1"
	provenance := map[string]any{"buildDefinition": map[string]any{"buildType": "https://example.com/build/v1"}}

	// The tag scheme: a signature and a provenance attestation.
	tagRepo := reg.Host + "/att-tag"
	d := signtest.Push(t, tagRepo+":1", signtest.Image(t))
	signtest.SignTag(t, tagRepo, d, signtest.Payload(tagRepo, d), key, nil)
	signtest.AttestTag(t, tagRepo, d, signtest.Statement(tagRepo, d, slsa1, provenance), key)

	// The referrer scheme, as cosign v3 writes it: the signature is an
	// in-toto statement too (cosign's sign/v1 predicate), beside the
	// provenance.
	refRepo := reg.Host + "/att-ref"
	img := signtest.Image(t)
	rd := signtest.Push(t, refRepo+":1", img)
	signtest.Referrer(t, refRepo, img, &sign.DSSEData{Data: signtest.Statement(refRepo, rd, CosignSignPredicateType, map[string]any{}), PayloadType: InTotoPayloadType}, kp, CosignSignPredicateType)
	signtest.Referrer(t, refRepo, img, &sign.DSSEData{Data: signtest.Statement(refRepo, rd, slsa1, provenance), PayloadType: InTotoPayloadType}, kp, slsa1)

	// Attested but not signed; and attested for another image.
	onlyRepo := reg.Host + "/att-only"
	od := signtest.Push(t, onlyRepo+":1", signtest.Image(t))
	signtest.AttestTag(t, onlyRepo, od, signtest.Statement(onlyRepo, od, slsa1, provenance), key)
	otherDigest := signtest.Push(t, onlyRepo+":2", signtest.Image(t))
	signtest.AttestTag(t, onlyRepo, otherDigest, signtest.Statement(onlyRepo, od, slsa1, provenance), key)

	check := func(ref string, req Request) (*ImageResult, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return Image(ctx, r, nil, req)
	}
	wantCheck := func(t *testing.T, err error, check string) {
		t.Helper()
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != check {
			t.Fatalf("err = %v, want the check %q to fail", err, check)
		}
	}
	withKey := func(k crypto.PublicKey, types ...string) Request {
		return Request{Options: Options{Key: k, InsecureIgnoreTlog: true}, Attestations: types}
	}

	for _, tc := range []struct {
		name, ref string
		key       crypto.PublicKey
		scheme    string
	}{{"tag", tagRepo + ":1", &key.PublicKey, SchemeTag}, {"referrer", refRepo + ":1", kp.GetPublicKey(), SchemeReferrer}} {
		t.Run(tc.name+" scheme", func(t *testing.T) {
			r, err := check(tc.ref, withKey(tc.key, "slsaprovenance1"))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Attestations) != 1 || r.Attestations[0].PredicateType != slsa1 || r.Attestations[0].Scheme != tc.scheme {
				t.Fatalf("attestations = %+v", r.Attestations)
			}
			if !strings.Contains(string(r.Attestations[0].Predicate), "https://example.com/build/v1") {
				t.Errorf("predicate = %s", r.Attestations[0].Predicate)
			}
			// The signature verifies too, and an attestation is not
			// taken for it.
			sig, err := check(tc.ref, withKey(tc.key))
			if err != nil || sig.Scheme != tc.scheme {
				t.Fatalf("signature: %+v, %v", sig, err)
			}
			_, err = check(tc.ref, withKey(tc.key, "cyclonedx"))
			wantCheck(t, err, CheckNoAttestation)
			_, err = check(tc.ref, withKey(&otherKey.PublicKey, slsa1))
			wantCheck(t, err, CheckKey)
		})
	}
	t.Run("an attestation is not a signature", func(t *testing.T) {
		if _, err := check(onlyRepo+":1", withKey(&key.PublicKey, slsa1)); err != nil {
			t.Fatal(err)
		}
		_, err := check(onlyRepo+":1", withKey(&key.PublicKey))
		wantCheck(t, err, CheckNoSignature)
		req := withKey(&key.PublicKey, slsa1)
		req.Signature = true
		_, err = check(onlyRepo+":1", req)
		wantCheck(t, err, CheckNoSignature)
	})
	t.Run("attestation about another image", func(t *testing.T) {
		_, err := check(onlyRepo+":2", withKey(&key.PublicKey, slsa1))
		wantCheck(t, err, CheckDigest)
	})
	t.Run("unknown predicate name", func(t *testing.T) {
		if _, err := check(tagRepo+":1", withKey(&key.PublicKey, "provenance")); err == nil || !strings.Contains(err.Error(), "slsaprovenance1") {
			t.Errorf("err = %v, want the known names listed", err)
		}
	})
}

// TestImageMultiArch verifies an index signed as a whole and one whose
// platform manifests are signed one by one.
func TestImageMultiArch(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	amd, arm := signtest.Image(t), signtest.Image(t)
	index := func() v1.ImageIndex {
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
			mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	}
	push := func(ref string) v1.Hash {
		r, _ := name.ParseReference(ref, name.Insecure)
		idx := index()
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		return d
	}
	wholeRepo, eachRepo := reg.Host+"/multi-whole", reg.Host+"/multi-each"
	wd := push(wholeRepo + ":1")
	signtest.SignTag(t, wholeRepo, wd, signtest.Payload(wholeRepo, wd), key, nil)
	push(eachRepo + ":1")
	for _, img := range []v1.Image{amd, arm} {
		d, _ := img.Digest()
		signtest.SignTag(t, eachRepo, d, signtest.Payload(eachRepo, d), key, nil)
	}
	check := func(ref, mode string) (*ImageResult, error) {
		r, _ := name.ParseReference(ref, name.Insecure)
		return Image(ctx, r, nil, Request{Options: Options{Key: &key.PublicKey, InsecureIgnoreTlog: true}, MultiArch: mode})
	}
	var ce *CheckError
	if r, err := check(wholeRepo+":1", MultiArchIndex); err != nil || r.Digest != wd.String() {
		t.Errorf("index signature, index mode: %+v, %v", r, err)
	}
	if _, err := check(wholeRepo+":1", MultiArchEach); !errors.As(err, &ce) || ce.Check != CheckNoSignature || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("index signature, each mode: %v, want the amd64 manifest to have no signature", err)
	}
	r, err := check(eachRepo+":1", MultiArchEach)
	if err != nil {
		t.Fatalf("platform signatures, each mode: %v", err)
	}
	if len(r.Platforms) != 2 || r.Platforms[0].Platform != "linux/amd64" || r.Platforms[1].Platform != "linux/arm64" {
		t.Errorf("platforms = %+v", r.Platforms)
	}
	if _, err := check(eachRepo+":1", MultiArchIndex); !errors.As(err, &ce) || ce.Check != CheckNoSignature {
		t.Errorf("platform signatures, index mode: %v, want no signature on the index", err)
	}
}

// layerSignature is a classic signature layer, as cosign reads it from a
// registry.
func layerSignature(payload []byte, annotations map[string]string) sigLayer {
	l := static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
	d, _ := l.Digest()
	return sigLayer{layer: l, desc: v1.Descriptor{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Size: int64(len(payload)), Digest: d, Annotations: annotations}}
}

// FuzzTagLayer feeds cosign's classic tag layers (an attestation envelope,
// the annotations beside a signature) to the parsers: whatever they are,
// they are errors or bundles, never a crash.
func FuzzTagLayer(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`), "", "")
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"eyJwcmVkaWNhdGVUeXBlIjoieCJ9","signatures":[{"sig":"AA=="}]}`), "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}`)
	f.Fuzz(func(t *testing.T, layer []byte, cert, rekor string) {
		// rekor is tried as the RFC 3161 timestamp record too: both are
		// JSON that cosign parses.
		sig := layerSignature(layer, map[string]string{AnnotationSignature: "AA==", AnnotationCertificate: cert, AnnotationRekorBundle: rekor, AnnotationRFC3161Timestamp: rekor})
		if b, err := tagBundle(sig, nil, layer); err == nil {
			verifySimpleSigning(b, layer, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, Options{Identity: &Identity{Subject: "x", Issuer: "y"}, TrustedRoot: nil})
		}
		env, err := parseEnvelope(layer)
		if err != nil {
			return
		}
		if b, err := tagBundle(sig, env, nil); err == nil {
			bundlePredicateType(b)
			predicate(b)
		}
	})
}

// TestKeyTypes verifies signatures made with each key type cosign accepts
// (ECDSA, Ed25519, RSA), read from PEM, and refuses them under another
// key of the same type.
func TestKeyTypes(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	payload := signtest.Payload("registry.example/app", d)
	sum := sha256.Sum256(payload)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherEd, _, _ := ed25519.GenerateKey(rand.Reader)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name       string
		pub, other crypto.PublicKey
		sign       func() ([]byte, error)
	}{
		{"ecdsa", &ecKey.PublicKey, &otherEC.PublicKey, func() ([]byte, error) { return ecdsa.SignASN1(rand.Reader, ecKey, sum[:]) }},
		{"ed25519", edPub, otherEd, func() ([]byte, error) { return ed25519.Sign(edKey, payload), nil }},
		{"rsa", &rsaKey.PublicKey, &otherRSA.PublicKey, func() ([]byte, error) { return rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, sum[:]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := tc.sign()
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKIXPublicKey(tc.pub)
			pub, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			if err != nil {
				t.Fatal(err)
			}
			b, err := tagBundle(layerSignature(payload, map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}), nil, payload)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifySimpleSigning(b, payload, d, Options{Key: pub, InsecureIgnoreTlog: true}); err != nil {
				t.Fatalf("the right key: %v", err)
			}
			_, err = verifySimpleSigning(b, payload, d, Options{Key: tc.other, InsecureIgnoreTlog: true})
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != CheckKey {
				t.Fatalf("another key: %v, want a key mismatch", err)
			}
		})
	}
}

// TestTagTimestamp verifies a key-signed classic signature that an RFC
// 3161 timestamp dates instead of a log entry (cosign sign
// --timestamp-server-url --tlog-upload=false): cosign keeps the timestamp
// in an annotation beside the signature.
func TestTagTimestamp(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	s := signtest.NewSigstore(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	repo := reg.Host + "/stamped"
	d := signtest.Push(t, repo+":1", signtest.Image(t))
	payload := signtest.Payload(repo, d)
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	tsr, err := s.TimestampResponse(sig)
	if err != nil {
		t.Fatal(err)
	}
	record, _ := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": tsr})
	img, _ := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig), AnnotationRFC3161Timestamp: string(record)}})
	signtest.Push(t, repo+":sha256-"+d.Hex+".sig", img)
	unstamped := signtest.Push(t, repo+":2", signtest.Image(t))
	signtest.SignTag(t, repo, unstamped, signtest.Payload(repo, unstamped), key, nil)

	verify := func(ref string) (*ImageResult, error) {
		r, _ := name.ParseReference(ref, name.Insecure)
		return Image(context.Background(), r, nil, Request{Options: Options{Key: &key.PublicKey, TrustedRoot: s}})
	}
	r, err := verify(repo + ":1")
	if err != nil {
		t.Fatal(err)
	}
	if r.SignedAt.IsZero() || r.LogIndex != -1 {
		t.Errorf("result = %+v, want a signing time from the timestamp and no log entry", r.Result)
	}
	_, err = verify(repo + ":2")
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Check != CheckTlog {
		t.Errorf("without the timestamp: %v, want no transparency-log proof", err)
	}
}
