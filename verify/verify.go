package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// The checks a verification can fail, as failure messages name them.
const (
	CheckNoSignature     = "no signature found"
	CheckNoAttestation   = "no attestation found"
	CheckKey             = "key mismatch"
	CheckIdentity        = "identity mismatch"
	CheckTlog            = "no transparency-log proof"
	CheckCertExpired     = "certificate expired at signing time"
	CheckTooOld          = "signature too old"
	CheckDigest          = "digest mismatch"
	CheckSignature       = "signature invalid"
	CheckTrustedMaterial = "not signed by trusted material"
	// CheckSCT fails a keyless certificate without a signed certificate
	// timestamp from a CT log of the trusted root.
	CheckSCT = "sct"
	// CheckAnnotations fails a signature that does not sign the
	// annotations asked for (cosign sign -a).
	CheckAnnotations = "annotations"
)

// CheckError is a signature that does not verify: the policy said no, and
// the CLI exits 1 for it.
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string {
	if e.Err == nil {
		return "verification failed: " + e.Check
	}
	return fmt.Sprintf("verification failed: %s: %v", e.Check, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// PolicyFailure marks the error as "the policy said no".
func (e *CheckError) PolicyFailure() bool { return true }

var (
	// ErrNoTlogEntry is a signature that nothing dates: it has neither a
	// transparency-log entry nor a signed timestamp (CheckTlog).
	ErrNoTlogEntry = errors.New("the signature has no transparency-log entry and no signed timestamp")
	// ErrNoSigningTime is a signature of unknown age, held to a maximum
	// age (CheckTooOld): the log was ignored, and nothing else dates it.
	ErrNoSigningTime = errors.New("no verified signing time")
	// ErrNoSigner is verification asked without saying who must have
	// signed: neither a key nor a certificate identity.
	ErrNoSigner = errors.New("no signer named: a key, or a certificate identity and its OIDC issuer")
)

// Identity is who must have signed, for keyless signatures.
type Identity struct {
	Subject, SubjectRegexp string
	Issuer, IssuerRegexp   string
	// GitHubWorkflow are claims of a GitHub Actions token that the
	// certificate must carry; empty fields are not checked.
	GitHubWorkflow GitHubWorkflow
}

// GitHubWorkflow are the GitHub Actions claims Fulcio writes into a
// certificate (OIDs 1.3.6.1.4.1.57264.1.2 to .6), as cosign's
// --certificate-github-workflow-* flags check them.
type GitHubWorkflow struct {
	Trigger    string `yaml:"trigger,omitempty"`
	SHA        string `yaml:"sha,omitempty"`
	Name       string `yaml:"name,omitempty"`
	Repository string `yaml:"repository,omitempty"`
	Ref        string `yaml:"ref,omitempty"`
}

// Options say what a signature must satisfy.
type Options struct {
	// TrustedRoot is the trusted material (Fulcio, Rekor, TSA keys).
	TrustedRoot root.TrustedMaterial
	// TrustedRootFunc, when TrustedRoot is nil, gets the trusted material
	// when a signature first needs it: a certificate, a log entry or a
	// timestamp to check. A key-signature with neither is judged without
	// it, so that a fetch over the network is not made for nothing.
	TrustedRootFunc func() (root.TrustedMaterial, error)
	// Key, when set, is the public key that must have signed.
	Key crypto.PublicKey
	// Identity, when Key is nil, is who must have signed.
	Identity *Identity
	// MaxAge, when set, is how old the verified signing time may be.
	MaxAge time.Duration
	// InsecureIgnoreTlog accepts signatures with neither a
	// transparency-log entry nor a signed timestamp. Unsafe. A log entry
	// or timestamp that verifies still dates the signature; without one
	// the signing time is unknown, and MaxAge fails.
	InsecureIgnoreTlog bool
	// InsecureIgnoreSCT accepts keyless certificates without a signed
	// certificate timestamp (SCT) from a CT log of the trusted root, that
	// is, certificates nobody can see were issued. Unsafe.
	InsecureIgnoreSCT bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Result says what verified.
type Result struct {
	// Signer is the certificate's subject (keyless) or "key".
	Signer string `json:"signer"`
	Issuer string `json:"issuer,omitempty"`
	// SignedAt is the verified signing time: the earliest verified
	// timestamp (log integrated time or RFC 3161 time). It is zero, and
	// left out of JSON, when none verified: the log was ignored and the
	// signature carries no timestamp that verifies.
	SignedAt time.Time `json:"signed_at,omitzero"`
	// LogIndex is the transparency-log entry's index, -1 when none.
	LogIndex int64 `json:"log_index"`
}

// LoadTrustedRoot reads a trusted_root.json.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading trusted root %s: %w", path, err)
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("parsing trusted root %s: %w", path, err)
	}
	return tr, nil
}

// LoadKey reads a PEM public key: ECDSA, Ed25519 or RSA.
func LoadKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key %s: %w", path, err)
	}
	return ParseKey(b)
}

// ParseKey parses a PEM public key.
func ParseKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("the key is not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the public key: %w", err)
	}
	switch k.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}

// LoadBundle reads a Sigstore bundle.
func LoadBundle(path string) (*bundle.Bundle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", path, err)
	}
	bun, err := ParseBundle(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bun, nil
}

const maxBundleSize = 32 << 20

// ParseBundle parses a Sigstore bundle (any published version).
func ParseBundle(b []byte) (*bundle.Bundle, error) {
	if len(b) > maxBundleSize {
		return nil, fmt.Errorf("bundle larger than %d bytes", maxBundleSize)
	}
	var bun bundle.Bundle
	if err := bun.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("parsing bundle: %w", err)
	}
	return &bun, nil
}

// Artifact is what a bundle must be a signature of: its content or its
// digest.
type Artifact struct {
	Content io.Reader
	// DigestAlgorithm ("sha256", "sha512") and Digest, when Content is nil.
	DigestAlgorithm string
	Digest          []byte
}

// ParseArtifact reads FILE_OR_DIGEST: "sha256:<hex>" (or sha384, sha512)
// or a path. The caller closes the returned file, if any.
func ParseArtifact(s string) (Artifact, io.Closer, error) {
	for _, alg := range []struct {
		name string
		size int
	}{{"sha256", 32}, {"sha384", 48}, {"sha512", 64}} {
		if h, ok := strings.CutPrefix(s, alg.name+":"); ok {
			d, err := hex.DecodeString(h)
			if err != nil || len(d) != alg.size {
				return Artifact{}, nil, fmt.Errorf("invalid %s digest %q: want %d hex digits", alg.name, h, 2*alg.size)
			}
			return Artifact{DigestAlgorithm: alg.name, Digest: d}, nil, nil
		}
	}
	f, err := os.Open(s)
	if err != nil {
		return Artifact{}, nil, fmt.Errorf("reading the artifact: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return Artifact{}, nil, fmt.Errorf("reading the artifact: %s is not a regular file (give a file, or its digest as sha256:HEX)", s)
	}
	return Artifact{Content: f}, f, nil
}

// Entity verifies a signed entity (a bundle) against an artifact.
func Entity(e sgverify.SignedEntity, art Artifact, opts Options) (*Result, error) {
	if opts.TrustedRoot == nil && opts.TrustedRootFunc == nil && opts.Key == nil {
		return nil, errors.New("no trusted material: give a trusted root or a key")
	}
	// What cannot be read is a malformed input, not a failed check.
	if _, err := e.VerificationContent(); err != nil {
		return nil, fmt.Errorf("malformed bundle: its certificate or key: %w", err)
	}
	if _, err := e.SignatureContent(); err != nil {
		return nil, fmt.Errorf("malformed bundle: its signature: %w", err)
	}
	entries, err := e.TlogEntries()
	if err != nil {
		return nil, fmt.Errorf("malformed bundle: its transparency-log entries: %w", err)
	}
	timestamps, err := e.Timestamps()
	if err != nil {
		return nil, fmt.Errorf("malformed bundle: its signed timestamps: %w", err)
	}
	var policyOpts []sgverify.PolicyOption
	var keyMaterial root.TrustedMaterial
	if opts.Key != nil {
		v, err := signature.LoadVerifier(opts.Key, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("loading the key: %w", err)
		}
		keyMaterial = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
		})
		policyOpts = append(policyOpts, sgverify.WithKey())
	} else {
		if opts.Identity == nil {
			return nil, ErrNoSigner
		}
		id, err := certificateIdentity(opts.Identity)
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		policyOpts = append(policyOpts, sgverify.WithCertificateIdentity(id))
	}
	hasTlog, observed := len(entries) > 0, len(entries) > 0 || len(timestamps) > 0
	if !observed && !opts.InsecureIgnoreTlog {
		// Said before the trusted root is fetched: nothing in the
		// signature could be checked against it.
		return nil, &CheckError{Check: CheckTlog, Err: ErrNoTlogEntry}
	}
	tr := opts.TrustedRoot
	if tr == nil && opts.TrustedRootFunc != nil && (opts.Key == nil || observed) {
		if tr, err = opts.TrustedRootFunc(); err != nil {
			return nil, err
		}
	}
	var material root.TrustedMaterialCollection
	if tr != nil {
		material = append(material, tr)
	} else if opts.Key == nil {
		return nil, errors.New("no trusted root to check the certificate against")
	}
	if keyMaterial != nil {
		material = append(material, keyMaterial)
	}
	verify := func(vo []sgverify.VerifierOption) (*sgverify.VerificationResult, error) {
		v, err := sgverify.NewVerifier(material, vo...)
		if err != nil {
			return nil, fmt.Errorf("configuring the verifier: %w", err)
		}
		var artOpt sgverify.ArtifactPolicyOption
		if art.Content != nil {
			artOpt = sgverify.WithArtifact(art.Content)
		} else {
			artOpt = sgverify.WithArtifactDigest(art.DigestAlgorithm, art.Digest)
		}
		return v.Verify(e, sgverify.NewPolicy(artOpt, policyOpts...))
	}

	var res *sgverify.VerificationResult
	// undated says why no time vouches for the signature, when none does.
	var undated string
	switch {
	case !opts.InsecureIgnoreTlog:
		if res, err = verify(opts.dated(hasTlog)); err != nil {
			if expired := certExpiredAtLogTime(e); expired != nil {
				return nil, &CheckError{Check: CheckCertExpired, Err: expired}
			}
			return nil, classify(err, opts, hasTlog)
		}
	case !observed:
		undated = "the signature carries neither a transparency-log entry nor a signed timestamp"
	case tr == nil:
		undated = "no trusted root was given to check its transparency-log entry or signed timestamp against"
	default:
		// The log is waived, not the time: a log entry or timestamp that
		// verifies still dates the signature.
		res, err = verify(opts.dated(hasTlog))
		if err != nil {
			if !beforeArtifact(err) {
				return nil, classify(err, opts, hasTlog)
			}
			res, undated = nil, fmt.Sprintf("its transparency-log entry or signed timestamp did not verify (%v)", err)
		}
	}
	if res == nil {
		if res, err = verify(opts.undated()); err != nil {
			return nil, classify(err, opts, false)
		}
	}
	out := &Result{Signer: "key", LogIndex: -1}
	if res.Signature != nil && res.Signature.Certificate != nil {
		out.Signer = res.Signature.Certificate.SubjectAlternativeName
		out.Issuer = res.Signature.Certificate.Issuer
	}
	if undated == "" {
		for _, ts := range res.VerifiedTimestamps {
			// Only a log or a timestamp authority vouches for when a
			// signature was made; the time of verification is not it.
			if ts.Type == "CurrentTime" {
				continue
			}
			if out.SignedAt.IsZero() || ts.Timestamp.Before(out.SignedAt) {
				out.SignedAt = ts.Timestamp
			}
		}
	}
	if hasTlog {
		out.LogIndex = entries[0].LogIndex()
	}
	if opts.MaxAge > 0 {
		if out.SignedAt.IsZero() {
			return out, &CheckError{Check: CheckTooOld, Err: fmt.Errorf("%w, so its age is unknown: the transparency log was ignored, and %s", ErrNoSigningTime, undated)}
		}
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		if now().Sub(out.SignedAt) > opts.MaxAge {
			return out, &CheckError{Check: CheckTooOld, Err: fmt.Errorf("signed at %s, more than %s ago", out.SignedAt.Format(time.RFC3339), opts.MaxAge)}
		}
	}
	return out, nil
}

// dated is how sigstore-go must verify a signature whose time a
// transparency-log entry or a signed timestamp vouches for.
func (opts Options) dated(hasTlog bool) []sgverify.VerifierOption {
	// A log entry (integrated time, Rekor v1) or a signed timestamp
	// (RFC 3161, as Rekor v2 bundles carry) must vouch for the time.
	vo := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1)}
	if hasTlog {
		vo = append(vo, sgverify.WithTransparencyLog(1))
	}
	return append(vo, opts.sct()...)
}

// undated is how sigstore-go verifies a signature nothing dates, when the
// log is waived: a key signature needs no time; a certificate is checked
// as of now, the only time there is.
func (opts Options) undated() []sgverify.VerifierOption {
	if opts.Key != nil {
		return []sgverify.VerifierOption{sgverify.WithNoObserverTimestamps()}
	}
	return append([]sgverify.VerifierOption{sgverify.WithCurrentTime()}, opts.sct()...)
}

func (opts Options) sct() []sgverify.VerifierOption {
	if opts.Key == nil && !opts.InsecureIgnoreSCT {
		// Fulcio logs each certificate it issues in a CT log, so that a
		// certificate issued wrongly can be found; the SCT is the log's
		// promise. Key-signed bundles have no certificate.
		return []sgverify.VerifierOption{sgverify.WithSignedCertificateTimestamps(1)}
	}
	return nil
}

// beforeArtifact reports a sigstore-go failure in the steps that date a
// signature (the log entry, the timestamps, the certificate or key at
// that time), which come before the artifact is read.
func beforeArtifact(err error) bool {
	msg := err.Error()
	for _, p := range []string{"failed to verify log inclusion", "failed to verify timestamps", "failed to verify leaf certificate", "signature time outside of public key validity"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func certificateIdentity(i *Identity) (sgverify.CertificateIdentity, error) {
	san, err := sgverify.NewSANMatcher(i.Subject, i.SubjectRegexp)
	if err != nil {
		return sgverify.CertificateIdentity{}, err
	}
	issuer, err := sgverify.NewIssuerMatcher(i.Issuer, i.IssuerRegexp)
	if err != nil {
		return sgverify.CertificateIdentity{}, err
	}
	gh := i.GitHubWorkflow
	return sgverify.NewCertificateIdentity(san, issuer, certificate.Extensions{
		GithubWorkflowTrigger:    gh.Trigger,
		GithubWorkflowSHA:        gh.SHA,
		GithubWorkflowName:       gh.Name,
		GithubWorkflowRepository: gh.Repository,
		GithubWorkflowRef:        gh.Ref,
	})
}

// certExpiredAtLogTime reports a log entry whose time falls outside the
// signing certificate's validity: sigstore-go rejects such an entry without
// saying why.
func certExpiredAtLogTime(e sgverify.SignedEntity) error {
	vc, err := e.VerificationContent()
	if err != nil {
		return nil
	}
	cert := vc.Certificate()
	if cert == nil {
		return nil
	}
	entries, err := e.TlogEntries()
	if err != nil {
		return nil
	}
	for _, entry := range entries {
		t := entry.IntegratedTime()
		if t.IsZero() {
			continue
		}
		if t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
			return fmt.Errorf("logged at %s, but the certificate was valid from %s to %s",
				t.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// classify names the check a sigstore-go error comes from.
func classify(err error, opts Options, hasTlog bool) error {
	msg := err.Error()
	check := CheckSignature
	switch {
	case strings.Contains(msg, "hashedrekord entry digest") && strings.Contains(msg, "does not match artifact"):
		// The log recorded a signature over another digest.
		check = CheckDigest
	case strings.Contains(msg, "failed to verify signed certificate timestamp"):
		// No SCT, or none from a CT log of the trusted root.
		check = CheckSCT
	case strings.Contains(msg, "certificate does not match"), strings.Contains(msg, "key does not match"):
		// The log entry was made for another key or certificate.
		check = CheckKey
		if opts.Key == nil {
			check = CheckTrustedMaterial
		}
	case strings.Contains(msg, "failed to verify log inclusion"), strings.Contains(msg, "threshold not met for verified log entry"),
		strings.Contains(msg, "failed to verify timestamps"), strings.Contains(msg, "must provide timestamp"),
		strings.Contains(msg, "threshold not met") && !hasTlog:
		check = CheckTlog
	case strings.Contains(msg, "certificate has expired or is not yet valid"), strings.Contains(msg, "outside of public key validity"):
		check = CheckCertExpired
	case strings.Contains(msg, "failed to verify certificate identity"), strings.Contains(msg, "can't verify certificate identities"):
		check = CheckIdentity
	case strings.Contains(msg, "expected key signature, not certificate"):
		check = CheckKey
	case strings.Contains(msg, "failed to verify leaf certificate"):
		check = CheckTrustedMaterial
	case strings.Contains(msg, "failed to verify signature"), strings.Contains(msg, "failed to get signature verifier"):
		switch {
		case strings.Contains(msg, "digest"), strings.Contains(msg, "artifact"):
			check = CheckDigest
		case opts.Key != nil:
			check = CheckKey
		default:
			check = CheckDigest
		}
	}
	return &CheckError{Check: check, Err: err}
}
