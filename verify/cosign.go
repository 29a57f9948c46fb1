package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// verifySimpleSigning checks a classic tag signature, turned into the
// Sigstore bundle it amounts to (a message signature over the payload,
// with the key or certificate and the Rekor entry cosign recorded beside
// it), so that keys, identities, logs and times are checked exactly as for
// bundles; then it checks that the payload names the digest.
func verifySimpleSigning(b *bundle.Bundle, payload []byte, d v1.Hash, opts Options) (*Result, error) {
	r, err := Entity(b, Artifact{Content: bytes.NewReader(payload)}, opts)
	if err != nil {
		return nil, err
	}
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, &CheckError{Check: CheckDigest, Err: fmt.Errorf("the signed payload is not cosign's simple signing format: %v", err)}
	}
	if p.Critical.Type != SimpleSigningType {
		return nil, &CheckError{Check: CheckDigest, Err: fmt.Errorf("the signed payload is of type %q, not an image signature", p.Critical.Type)}
	}
	if p.Critical.Image.DockerManifestDigest != d.String() {
		return nil, &CheckError{Check: CheckDigest, Err: fmt.Errorf("the signature is for %s, not %s", p.Critical.Image.DockerManifestDigest, d)}
	}
	return r, nil
}

// simpleSigning is the part of cosign's payload that binds it to an image.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// rekorBundle is cosign's record of the Rekor entry of a signature.
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// tagBundle builds the v0.1 Sigstore bundle a classic signature layer
// amounts to, from what cosign reads of it: the record of its annotations
// (see cosignBundle) and the RFC 3161 timestamp cosign may keep beside it
// (cosign sign --timestamp-server-url), which dates the signature as a
// log entry does.
func tagBundle(sig sigLayer, env *protodsse.Envelope, payload []byte) (*bundle.Bundle, error) {
	digest := sha256.Sum256(payload)
	b, err := cosignBundle(sig.desc.Annotations, env, digest[:])
	if err != nil {
		return nil, fmt.Errorf("malformed signature layer: %w", err)
	}
	ts, err := sig.RFC3161Timestamp()
	if err != nil {
		return nil, fmt.Errorf("malformed signature layer: RFC 3161 timestamp annotation: %v", err)
	}
	if len(ts) > 0 {
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
		}
	}
	return b, nil
}

// cosignBundle builds the v0.1 Sigstore bundle of a signature as cosign
// v2 records it, in annotations (or in a blob bundle, see LegacyBundle):
// the signature over the SHA-256 digest (or the DSSE envelope env), the
// key or certificate chain, and the Rekor entry.
func cosignBundle(annotations map[string]string, env *protodsse.Envelope, digest []byte) (*bundle.Bundle, error) {
	malformed := func(what string, err error) error {
		return fmt.Errorf("%s: %v", what, err)
	}
	var vm protobundle.VerificationMaterial
	if c := annotations[AnnotationCertificate]; c != "" {
		chain := &protocommon.X509CertificateChain{}
		rest := []byte(c + "\n" + annotations[AnnotationChain])
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: block.Bytes})
		}
		if len(chain.Certificates) == 0 {
			return nil, malformed("certificate annotation", errors.New("no PEM certificate"))
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: chain}
	} else {
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}}
	}
	if rb := annotations[AnnotationRekorBundle]; rb != "" {
		var r rekorBundle
		if err := json.Unmarshal([]byte(rb), &r); err != nil {
			return nil, malformed("Rekor bundle annotation", err)
		}
		body, err := base64.StdEncoding.DecodeString(r.Payload.Body)
		if err != nil {
			return nil, malformed("Rekor entry body", err)
		}
		logID, err := hex.DecodeString(r.Payload.LogID)
		if err != nil {
			return nil, malformed("Rekor log ID", err)
		}
		var kind struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
		}
		if err := json.Unmarshal(body, &kind); err != nil {
			return nil, malformed("Rekor entry body", err)
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{{
			LogIndex:          r.Payload.LogIndex,
			LogId:             &protocommon.LogId{KeyId: logID},
			KindVersion:       &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
			IntegratedTime:    r.Payload.IntegratedTime,
			InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: r.SignedEntryTimestamp},
			CanonicalizedBody: body,
		}}
	}
	pb := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &vm,
	}
	if env != nil {
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
	} else {
		sig, err := base64.StdEncoding.DecodeString(annotations[AnnotationSignature])
		if err != nil || len(sig) == 0 {
			return nil, malformed("signature annotation", err)
		}
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest},
			Signature:     sig,
		}}
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, malformed("as a bundle", err)
	}
	return b, nil
}

// parseEnvelope reads a DSSE envelope as cosign stores it in an
// attestation layer.
func parseEnvelope(b []byte) (*protodsse.Envelope, error) {
	var e struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %v", err)
	}
	if len(e.Signatures) == 0 {
		return nil, errors.New("a DSSE envelope without a signature")
	}
	env := &protodsse.Envelope{PayloadType: e.PayloadType, Payload: e.Payload}
	for _, s := range e.Signatures {
		env.Signatures = append(env.Signatures, &protodsse.Signature{Keyid: s.KeyID, Sig: s.Sig})
	}
	return env, nil
}
