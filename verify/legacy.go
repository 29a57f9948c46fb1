package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// BlobBundle is a bundle as `cosign sign-blob --bundle` writes it: a
// Sigstore bundle (v0.1 to v0.3), or, without --new-bundle-format, cosign
// v2's own format. Exactly one of the fields is set.
type BlobBundle struct {
	Sigstore *bundle.Bundle
	Legacy   *LegacyBundle
}

// LegacyBundle is the bundle cosign v2 writes for a blob unless told
// --new-bundle-format (cosign's LocalSignedPayload): the signature, the
// signing certificate (none for a key), and the Rekor entry with its
// signed entry timestamp (none when it was not logged). It is the same
// record cosign keeps in a classic signature layer's annotations, and is
// verified the same way: as the v0.1 Sigstore bundle it amounts to.
type LegacyBundle struct {
	Base64Signature string `json:"base64Signature"`
	// Cert is the PEM certificate, base64-encoded (cosign also reads it
	// as plain PEM).
	Cert        string          `json:"cert,omitempty"`
	RekorBundle json.RawMessage `json:"rekorBundle,omitempty"`

	// annotations are the fields as a signature layer carries them.
	annotations map[string]string
	// envelope is the DSSE envelope that `cosign attest-blob` signs in
	// place of a message signature.
	envelope *protodsse.Envelope
}

// LoadBlobBundle reads a blob's bundle, of either format.
func LoadBlobBundle(path string) (*BlobBundle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", path, err)
	}
	bun, err := ParseBlobBundle(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bun, nil
}

// ParseBlobBundle parses a blob's bundle, telling the formats apart by
// their fields: a Sigstore bundle has a mediaType, cosign's own format a
// base64Signature.
func ParseBlobBundle(b []byte) (*BlobBundle, error) {
	if len(b) > maxBundleSize {
		return nil, fmt.Errorf("bundle larger than %d bytes", maxBundleSize)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("parsing bundle: %w", err)
	}
	_, sigstore := fields["mediaType"]
	_, legacy := fields["base64Signature"]
	switch {
	case legacy && !sigstore:
		l, err := ParseLegacyBundle(b)
		if err != nil {
			return nil, err
		}
		return &BlobBundle{Legacy: l}, nil
	case !legacy && !sigstore:
		return nil, errors.New("parsing bundle: neither a Sigstore bundle (no mediaType) nor cosign's bundle (no base64Signature)")
	}
	s, err := ParseBundle(b)
	if err != nil {
		return nil, err
	}
	return &BlobBundle{Sigstore: s}, nil
}

// ParseLegacyBundle parses and checks cosign v2's blob bundle.
func ParseLegacyBundle(b []byte) (*LegacyBundle, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("malformed cosign bundle: %s", fmt.Sprintf(format, args...))
	}
	if len(b) > maxBundleSize {
		return nil, fmt.Errorf("bundle larger than %d bytes", maxBundleSize)
	}
	var l LegacyBundle
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, malformed("%v", err)
	}
	if dec.More() {
		return nil, malformed("data after the JSON object")
	}
	sig, err := base64.StdEncoding.DecodeString(l.Base64Signature)
	if err != nil {
		return nil, malformed("base64Signature: %v", err)
	}
	if len(sig) == 0 {
		return nil, malformed("base64Signature is empty")
	}
	l.annotations = map[string]string{AnnotationSignature: l.Base64Signature}
	// An ECDSA or RSA signature is binary (DER or raw); `cosign
	// attest-blob` puts a DSSE envelope, JSON, in its place.
	if t := bytes.TrimSpace(sig); len(t) > 0 && t[0] == '{' {
		if l.envelope, err = parseEnvelope(t); err != nil {
			return nil, malformed("base64Signature: %v", err)
		}
	}
	if l.Cert != "" {
		certPEM := []byte(l.Cert)
		if d, err := base64.StdEncoding.DecodeString(l.Cert); err == nil {
			certPEM = d
		}
		if block, _ := pem.Decode(certPEM); block == nil || block.Type != "CERTIFICATE" {
			return nil, malformed("cert: not a PEM certificate, nor one in base64")
		}
		l.annotations[AnnotationCertificate] = string(certPEM)
	}
	if len(l.RekorBundle) > 0 && !bytes.Equal(l.RekorBundle, []byte("null")) {
		var r rekorBundle
		if err := json.Unmarshal(l.RekorBundle, &r); err != nil {
			return nil, malformed("rekorBundle: %v", err)
		}
		if len(r.SignedEntryTimestamp) == 0 || r.Payload.Body == "" {
			return nil, malformed("rekorBundle: no SignedEntryTimestamp or no Payload.body")
		}
		l.annotations[AnnotationRekorBundle] = string(l.RekorBundle)
	}
	// Build the bundle once, over a stand-in digest, so that whatever
	// cannot be read is found now, before the artifact is.
	bun, err := l.Bundle(make([]byte, sha256.Size))
	if err != nil {
		return nil, err
	}
	if _, err := bun.VerificationContent(); err != nil {
		return nil, malformed("cert: %v", err)
	}
	if _, err := bun.TlogEntries(); err != nil {
		return nil, malformed("rekorBundle: %v", err)
	}
	return &l, nil
}

// Bundle is the v0.1 Sigstore bundle the legacy bundle amounts to, for a
// message signature over the artifact of the SHA-256 digest (cosign's
// format does not record it; a DSSE envelope needs none).
func (l *LegacyBundle) Bundle(digest []byte) (*bundle.Bundle, error) {
	b, err := cosignBundle(l.annotations, l.envelope, digest)
	if err != nil {
		return nil, fmt.Errorf("malformed cosign bundle: %w", err)
	}
	return b, nil
}

// Blob verifies a blob's bundle, of either format, over the artifact.
func Blob(b *BlobBundle, art Artifact, opts Options) (*Result, error) {
	if b.Legacy == nil {
		return Entity(b.Sigstore, art, opts)
	}
	var digest []byte
	if b.Legacy.envelope == nil {
		switch {
		case art.Content != nil:
			h := sha256.New()
			if _, err := io.Copy(h, art.Content); err != nil {
				return nil, fmt.Errorf("reading the artifact: %w", err)
			}
			digest = h.Sum(nil)
			// The content itself is verified where it can be read again:
			// an Ed25519 signature cannot be checked against a digest.
			if s, ok := art.Content.(io.Seeker); ok {
				if _, err := s.Seek(0, io.SeekStart); err != nil {
					return nil, fmt.Errorf("reading the artifact: %w", err)
				}
			} else {
				art = Artifact{DigestAlgorithm: "sha256", Digest: digest}
			}
		case art.DigestAlgorithm == "sha256":
			digest = art.Digest
		default:
			return nil, fmt.Errorf("cosign's bundle signs the SHA-256 digest of the blob: give the file or its sha256 digest, not a %s digest", art.DigestAlgorithm)
		}
	}
	bun, err := b.Legacy.Bundle(digest)
	if err != nil {
		return nil, err
	}
	return Entity(bun, art, opts)
}
