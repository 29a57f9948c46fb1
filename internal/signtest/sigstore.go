package signtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/google/certificate-transparency-go/x509util"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore is a Sigstore instance of the test's own, built with
// sigstore-go's virtual Sigstore: its Rekor log and timestamp authority,
// but a Fulcio CA and a CT log of its own, because the virtual Fulcio
// issues certificates without the signed certificate timestamp (SCT) that
// Fulcio embeds and that verifiers require. It is the trusted material
// that verifies what it signs.
type Sigstore struct {
	*ca.VirtualSigstore
	fulcio    *root.FulcioCertificateAuthority
	fulcioKey *ecdsa.PrivateKey
	ctKey     *ecdsa.PrivateKey
	ctLog     *root.TransparencyLog
}

// NewSigstore starts a Sigstore for a test.
func NewSigstore(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	interCert, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	ctKey := newKey(t)
	now := time.Now()
	return &Sigstore{
		VirtualSigstore: vs,
		fulcio: &root.FulcioCertificateAuthority{
			Root:                rootCert,
			Intermediates:       []*x509.Certificate{interCert},
			ValidityPeriodStart: now.Add(-5 * time.Hour),
			ValidityPeriodEnd:   now.Add(time.Hour),
			URI:                 "https://fulcio.signtest.invalid",
		},
		fulcioKey: interKey,
		ctKey:     ctKey,
		ctLog:     ctLog(t, ctKey, now),
	}
}

// FulcioCertificateAuthorities is the Sigstore's own Fulcio CA.
func (s *Sigstore) FulcioCertificateAuthorities() []root.CertificateAuthority {
	return []root.CertificateAuthority{s.fulcio}
}

// CTLogs is the Sigstore's CT log, keyed by its log ID as SCTs name it.
func (s *Sigstore) CTLogs() map[string]*root.TransparencyLog {
	return map[string]*root.TransparencyLog{hex.EncodeToString(s.ctLog.ID): s.ctLog}
}

// TrustedRootJSON is the Sigstore's trusted material as a
// trusted_root.json, for the CLI's --trusted-root.
func (s *Sigstore) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	// The virtual Rekor log's ID is its hex log ID as bytes, where a
	// trusted root holds the raw ID that entries name.
	rekor := map[string]*root.TransparencyLog{}
	for id, l := range s.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.ID = raw
		rekor[id] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, s.FulcioCertificateAuthorities(), s.CTLogs(), s.TimestampingAuthorities(), rekor)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SCT says which CT log, if any, signed the SCT embedded in a certificate.
type SCT int

const (
	// SCTTrusted is an SCT from the Sigstore's own CT log.
	SCTTrusted SCT = iota
	// SCTUnknownLog is an SCT from a CT log the trusted root does not list.
	SCTUnknownLog
	// SCTNone is a certificate without an SCT.
	SCTNone
)

// SignOptions say how Sign signs; the zero value is how Sigstore signs.
type SignOptions struct {
	// LogTime is when Rekor logged the signature; zero is five minutes from
	// now, inside the certificate's ten minutes, as the virtual Sigstore
	// logs.
	LogTime time.Time
	// SCT is which CT log signed the certificate's SCT.
	SCT SCT
}

// Sign signs artifact keyless, as identity vouched for by issuer: a
// certificate from the Sigstore's Fulcio, a message signature, an RFC 3161
// timestamp and a Rekor hashedrekord entry with its signed entry
// timestamp.
func (s *Sigstore) Sign(t testing.TB, identity, issuer string, artifact []byte, opts SignOptions) *Entity {
	t.Helper()
	var ctKey *ecdsa.PrivateKey
	switch opts.SCT {
	case SCTTrusted:
		ctKey = s.ctKey
	case SCTUnknownLog:
		ctKey = newKey(t)
	case SCTNone:
	default:
		t.Fatalf("Sign: unknown SCT option %d", opts.SCT)
	}
	key := newKey(t)
	leaf := s.issue(t, identity, issuer, key, ctKey)
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	tsr, err := s.TimestampResponse(sig)
	if err != nil {
		t.Fatal(err)
	}
	logTime := opts.LogTime
	if logTime.IsZero() {
		logTime = time.Now().Add(5 * time.Minute)
	}
	return &Entity{
		chain:      []*x509.Certificate{leaf, s.fulcio.Intermediates[0], s.fulcio.Root},
		signature:  bundle.NewMessageSignature(digest[:], "SHA2_256", sig),
		timestamps: [][]byte{tsr},
		entries:    []*tlog.Entry{s.logEntry(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), digest[:], sig, logTime.Unix())},
	}
}

// issue is a Fulcio certificate for key, with an SCT from the CT log of
// ctKey embedded, or none when ctKey is nil.
func (s *Sigstore) issue(t testing.TB, identity, issuer string, key, ctKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber:   serial,
		EmailAddresses: []string{identity},
		NotBefore:      now,
		NotAfter:       now.Add(10 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte(issuer)},
		},
	}
	if ctKey == nil {
		return s.create(t, tpl, key)
	}
	// A CT log signs the precertificate: the certificate without its SCT
	// list, which is what a verifier rebuilds from the final certificate.
	// Issuing it once with a placeholder list, then again with the real
	// one from the same template, leaves everything else the same.
	sctExt := pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTSCT), Value: []byte{0x04, 0x00}}
	tpl.ExtraExtensions = append(tpl.ExtraExtensions, sctExt)
	pre := s.create(t, tpl, key)
	tbs, err := ctx509.RemoveSCTList(pre.RawTBSCertificate)
	if err != nil {
		t.Fatal(err)
	}
	sct := signSCT(t, ctKey, tbs, s.fulcio.Intermediates[0], now)
	list, err := x509util.MarshalSCTsIntoSCTList([]*ct.SignedCertificateTimestamp{sct})
	if err != nil {
		t.Fatal(err)
	}
	tlsList, err := cttls.Marshal(*list)
	if err != nil {
		t.Fatal(err)
	}
	sctExt.Value, err = asn1.Marshal(tlsList)
	if err != nil {
		t.Fatal(err)
	}
	tpl.ExtraExtensions[len(tpl.ExtraExtensions)-1] = sctExt
	return s.create(t, tpl, key)
}

func (s *Sigstore) create(t testing.TB, tpl *x509.Certificate, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tpl, s.fulcio.Intermediates[0], &key.PublicKey, s.fulcioKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signSCT is the SCT the CT log of ctKey gives the precertificate tbs
// issued by issuer (RFC 6962 section 3.2).
func signSCT(t testing.TB, ctKey *ecdsa.PrivateKey, tbs []byte, issuer *x509.Certificate, at time.Time) *ct.SignedCertificateTimestamp {
	t.Helper()
	sct := &ct.SignedCertificateTimestamp{
		SCTVersion: ct.V1,
		LogID:      ct.LogID{KeyID: logID(t, &ctKey.PublicKey)},
		Timestamp:  uint64(at.UnixMilli()),
	}
	leaf := ct.MerkleTreeLeaf{
		Version:  ct.V1,
		LeafType: ct.TimestampedEntryLeafType,
		TimestampedEntry: &ct.TimestampedEntry{
			EntryType:    ct.PrecertLogEntryType,
			Timestamp:    sct.Timestamp,
			PrecertEntry: &ct.PreCert{IssuerKeyHash: sha256.Sum256(issuer.RawSubjectPublicKeyInfo), TBSCertificate: tbs},
		},
	}
	input, err := ct.SerializeSCTSignatureInput(*sct, ct.LogEntry{Leaf: leaf})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, ctKey, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sct.Signature = ct.DigitallySigned{
		Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA},
		Signature: sig,
	}
	return sct
}

// LogKeySignature is the Rekor v1 hashedrekord entry of a signature made
// with a key over the SHA-256 digest, logged at integratedTime, with its
// signed entry timestamp.
func (s *Sigstore) LogKeySignature(t testing.TB, pub crypto.PublicKey, digest, sig []byte, integratedTime time.Time) *tlog.Entry {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s.logEntry(t, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), digest, sig, integratedTime.Unix())
}

// logEntry is the Rekor v1 hashedrekord entry of a signature by the PEM
// certificate or public key signer, with the signed entry timestamp that
// is Rekor's promise to include it.
func (s *Sigstore) logEntry(t testing.TB, signer []byte, digest, sig []byte, integratedTime int64) *tlog.Entry {
	t.Helper()
	// Rekor's canonical form: keys sorted, no spaces, as encoding/json
	// writes maps.
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(digest)}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": signer}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rawID, err := hex.DecodeString(id)
	if err != nil {
		t.Fatal(err)
	}
	const logIndex = 1000
	set, err := s.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: integratedTime,
		LogIndex:       logIndex,
		LogID:          id,
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := tlog.NewTlogEntry(&protorekor.TransparencyLogEntry{
		LogIndex:          logIndex,
		LogId:             &protocommon.LogId{KeyId: rawID},
		KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
		IntegratedTime:    integratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		CanonicalizedBody: body,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Entity is what Sign signed, as sigstore-go verifies it.
type Entity struct {
	chain      []*x509.Certificate
	signature  *bundle.MessageSignature
	timestamps [][]byte
	entries    []*tlog.Entry
}

var _ sgverify.SignedEntity = (*Entity)(nil)

// VerificationContent is the signing certificate; the trusted root
// supplies the rest of the chain.
func (e *Entity) VerificationContent() (sgverify.VerificationContent, error) {
	return bundle.NewCertificate(e.chain[0]), nil
}

func (e *Entity) SignatureContent() (sgverify.SignatureContent, error) { return e.signature, nil }
func (e *Entity) Timestamps() ([][]byte, error)                        { return e.timestamps, nil }
func (e *Entity) TlogEntries() ([]*tlog.Entry, error)                  { return e.entries, nil }
func (e *Entity) HasInclusionPromise() bool                            { return len(e.entries) > 0 }
func (e *Entity) HasInclusionProof() bool                              { return false }
func (e *Entity) Version() (string, error)                             { return "v0.3", nil }

// Chain is the certificate chain, leaf first.
func (e *Entity) Chain() []*x509.Certificate { return e.chain }

// Bundle is the entity as a v0.3 Sigstore bundle (JSON) vouched for by
// its RFC 3161 timestamp alone, as Rekor v2 bundles are: a v0.3 bundle
// with a Rekor v1 entry would need an inclusion proof the virtual log does
// not give.
func (e *Entity) Bundle(t testing.TB) []byte {
	t.Helper()
	var ts []*protocommon.RFC3161SignedTimestamp
	for _, tsr := range e.timestamps {
		ts = append(ts, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: tsr})
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: e.chain[0].Raw}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: ts},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: e.signature.Digest()},
			Signature:     e.signature.Signature(),
		}},
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// LegacyBundle is the entity as `cosign sign-blob --bundle` writes it
// without --new-bundle-format: cosign v2's own format, with the
// certificate and the Rekor entry.
func (e *Entity) LegacyBundle(t testing.TB) []byte {
	t.Helper()
	return LegacyBundle(t, e.signature.Signature(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.chain[0].Raw}), e.entries[0])
}

// LegacyBundle is a signature as `cosign sign-blob --bundle` writes it
// without --new-bundle-format (cosign's LocalSignedPayload): the
// signature, the PEM certificate base64-encoded (none for a key: certPEM
// nil) and the Rekor entry with its signed entry timestamp (none: entry
// nil).
func LegacyBundle(t testing.TB, sig, certPEM []byte, entry *tlog.Entry) []byte {
	t.Helper()
	type rekorPayload struct {
		Body           any    `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	}
	type rekorBundle struct {
		SignedEntryTimestamp []byte
		Payload              rekorPayload
	}
	var lsp struct {
		Base64Signature string       `json:"base64Signature"`
		Cert            string       `json:"cert,omitempty"`
		Bundle          *rekorBundle `json:"rekorBundle,omitempty"`
	}
	lsp.Base64Signature = base64.StdEncoding.EncodeToString(sig)
	lsp.Cert = base64.StdEncoding.EncodeToString(certPEM)
	if entry != nil {
		tle := entry.TransparencyLogEntry()
		lsp.Bundle = &rekorBundle{
			SignedEntryTimestamp: tle.GetInclusionPromise().GetSignedEntryTimestamp(),
			Payload: rekorPayload{
				Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
				IntegratedTime: tle.GetIntegratedTime(),
				LogIndex:       tle.GetLogIndex(),
				LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
			},
		}
	}
	b, err := json.Marshal(lsp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// logID is a log's ID: the SHA-256 of its DER public key.
func logID(t testing.TB, pub crypto.PublicKey) [sha256.Size]byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(der)
}

func ctLog(t testing.TB, key *ecdsa.PrivateKey, now time.Time) *root.TransparencyLog {
	t.Helper()
	id := logID(t, &key.PublicKey)
	return &root.TransparencyLog{
		BaseURL:             "https://ctfe.signtest.invalid",
		ID:                  id[:],
		ValidityPeriodStart: now.Add(-time.Hour),
		ValidityPeriodEnd:   now.Add(time.Hour),
		HashFunc:            crypto.SHA256,
		PublicKey:           &key.PublicKey,
		SignatureHashFunc:   crypto.SHA256,
	}
}
