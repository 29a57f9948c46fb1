package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/verify"
)

// verifyFlags are the trust flags shared by the verify commands.
type verifyFlags struct {
	key, trustedRoot         string
	identity, identityRegexp string
	issuer, issuerRegexp     string
	gh                       verify.GitHubWorkflow
	tufMirror, tufRoot       string
	maxAge                   time.Duration
	insecureIgnoreTlog       bool
	insecureIgnoreSCT        bool
	outputs                  []string
}

func (f *verifyFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "PEM public key (ECDSA, Ed25519 or RSA) that must have signed")
	fl.StringVar(&f.identity, "certificate-identity", "", "keyless: the signer's identity (certificate SAN), exactly")
	fl.StringVar(&f.identityRegexp, "certificate-identity-regexp", "", "keyless: a regexp the signer's identity must match")
	fl.StringVar(&f.issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer that vouched for the identity, exactly")
	fl.StringVar(&f.issuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regexp the OIDC issuer must match")
	fl.StringVar(&f.gh.Trigger, "certificate-github-workflow-trigger", "", "keyless: the GitHub Actions event that triggered the workflow (for example push)")
	fl.StringVar(&f.gh.SHA, "certificate-github-workflow-sha", "", "keyless: the commit the GitHub workflow built")
	fl.StringVar(&f.gh.Name, "certificate-github-workflow-name", "", "keyless: the GitHub workflow's name")
	fl.StringVar(&f.gh.Repository, "certificate-github-workflow-repository", "", "keyless: the repository the GitHub workflow ran in (owner/name)")
	fl.StringVar(&f.gh.Ref, "certificate-github-workflow-ref", "", "keyless: the git ref the GitHub workflow ran on (for example refs/heads/main)")
	fl.StringVar(&f.trustedRoot, "trusted-root", "", "trusted_root.json with the Fulcio, Rekor and timestamp authority keys (verifies offline); without it, it comes through TUF")
	fl.StringVar(&f.tufMirror, "tuf-mirror", verify.PublicGoodMirror, "the TUF repository the trusted root comes from when --trusted-root is not given")
	fl.StringVar(&f.tufRoot, "tuf-root", "", "the initial root.json of the --tuf-mirror repository (default: the public-good instance's, built in)")
	fl.DurationVar(&f.maxAge, "max-age", 0, "fail when the verified signing time is older than this (for example 720h)")
	fl.BoolVar(&f.insecureIgnoreTlog, "insecure-ignore-tlog", false, "UNSAFE: accept signatures with neither a transparency-log entry nor a signed timestamp (their signing time is unknown, and --max-age fails)")
	fl.BoolVar(&f.insecureIgnoreSCT, "insecure-ignore-sct", false, "UNSAFE: accept keyless certificates without a signed certificate timestamp (SCT) from a CT log of the trusted root")
	fl.StringArrayVarP(&f.outputs, "output", "o", nil, "output FORMAT[=FILE] (repeatable): text (default) or json")
}

func (f *verifyFlags) options(a *app) (verify.Options, error) {
	var opts verify.Options
	var err error
	// What to pass is said before anything is read or fetched.
	keyless := f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.issuerRegexp != ""
	switch {
	case f.key != "" && f.gh != (verify.GitHubWorkflow{}):
		return opts, usageError{err: fmt.Errorf("the --certificate-github-workflow-* claims are checked in certificates: drop --key")}
	case f.key != "" && keyless:
		return opts, usageError{err: fmt.Errorf("give --key or --certificate-identity/--certificate-oidc-issuer, not both")}
	case f.key != "":
		if opts.Key, err = verify.LoadKey(f.key); err != nil {
			return opts, err
		}
	case (f.identity == "" && f.identityRegexp == "") || (f.issuer == "" && f.issuerRegexp == ""):
		return opts, usageError{err: fmt.Errorf("say who must have signed: --key FILE, or --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")}
	default:
		opts.Identity = &verify.Identity{Subject: f.identity, SubjectRegexp: f.identityRegexp, Issuer: f.issuer, IssuerRegexp: f.issuerRegexp, GitHubWorkflow: f.gh}
	}
	switch {
	case f.trustedRoot != "":
		tr, err := verify.LoadTrustedRoot(f.trustedRoot)
		if err != nil {
			return opts, err
		}
		opts.TrustedRoot = tr
	case f.key != "" && f.insecureIgnoreTlog:
		// A key alone, with no log or timestamp to check, needs no root:
		// none is fetched, and a log entry's time goes unchecked.
	default:
		// Fetched when a signature first needs it, and once: a key
		// signature without a log entry fails without the network.
		opts.TrustedRootFunc = sync.OnceValues(func() (root.TrustedMaterial, error) {
			return a.tufRoot(f.tufMirror, f.tufRoot)
		})
	}
	opts.MaxAge, opts.InsecureIgnoreTlog, opts.InsecureIgnoreSCT = f.maxAge, f.insecureIgnoreTlog, f.insecureIgnoreSCT
	if opts.InsecureIgnoreTlog {
		fmt.Fprintln(a.stderr, "customs: warning: --insecure-ignore-tlog: signatures are accepted without a transparency-log entry or signed timestamp; the signing time of one without either is unknown")
	}
	if opts.InsecureIgnoreSCT && opts.Key == nil {
		fmt.Fprintln(a.stderr, "customs: warning: --insecure-ignore-sct: certificates are accepted without a signed certificate timestamp from a trusted CT log")
	}
	return opts, nil
}

// withHint adds to a verification error the flag that would accept what
// failed, when one would.
func withHint(err error, policy bool) error {
	if !errors.Is(err, verify.ErrNoTlogEntry) {
		return err
	}
	if policy {
		return fmt.Errorf("%w (set insecure-ignore-tlog: true on the policy entry to accept signatures without one)", err)
	}
	return fmt.Errorf("%w (pass --insecure-ignore-tlog to accept signatures without one)", err)
}

func (a *app) newVerifyCmd() *cobra.Command {
	var vf verifyFlags
	var pf pullFlags
	var attestations, annotations []string
	var multiArch, policyFile string
	var printPredicate bool
	cmd := &cobra.Command{
		Use:   "verify IMAGE (--key K | --certificate-identity I --certificate-oidc-issuer U | --policy P) [--trusted-root R]",
		Short: "Verify the cosign/Sigstore signatures and attestations of an image, or of a blob",
		Long: `Resolves IMAGE's tag once and verifies a signature on the digest it resolved to:
a signature under cosign's classic <repo>:sha256-<hex>.sig tag (cosign v2), or a
Sigstore bundle attached as an OCI referrer (cosign v3; the referrers tag where
the registry has no referrers API). Only a signature on that digest counts, so a
tag moved to an unsigned image fails. A transparency-log entry or an RFC 3161
signed timestamp must vouch for the signing time, unless --insecure-ignore-tlog
(then one that verifies still dates the signature; without one the signing time
is unknown, and --max-age fails).
A keyless certificate must carry a signed certificate timestamp (SCT) from a CT
log of the trusted root, as Fulcio's do, unless --insecure-ignore-sct. The keys
that check them come from --trusted-root (offline), else from the trusted root
Sigstore publishes through TUF (--tuf-mirror, cached for a day).

-a KEY=VALUE (repeatable) wants the signature to sign the annotation, as cosign
verify -a does: in the "optional" section of a simple-signing payload (cosign
sign -a), or on the subject of a bundle's in-toto statement (cosign v3). A
signature that cannot carry annotations (a bundle's message signature; cosign
v2 leaves them out of bundles) fails. With --policy they are required on top of
the policy's; an image the policy allows unsigned then fails.

--attestation TYPE verifies a DSSE attestation instead (the .att tag, or a
bundle referrer): signed as the flags say, an in-toto statement about this
digest, of the predicate type TYPE (slsaprovenance, slsaprovenance1, spdxjson,
cyclonedx, vuln, openvex, link, custom, or a URI); --print-predicate prints
what it attests.

For a multi-arch image, --multi-arch index (the default) wants a signature on
the index, which names every platform manifest by digest; --multi-arch each
wants one on every platform manifest.

--policy FILE takes the keys, identities, attestations, freshness and
multi-arch rule from a trust policy instead (customs scan --policy reads the
same file). Entries are tried in order, the first whose pattern matches the
repository decides, and images no entry matches are denied unless
"unmatched: allow":

  version: 1
  trusted-root: trusted_root.json        # paths are relative to the policy
  images:
    - pattern: registry.example/app/**   # * one path segment, ** any number
      authorities:                       # any one of them
        - key: cosign.pub
        - identity-regexp: ^https://github.com/org/app/
          issuer: https://token.actions.githubusercontent.com
      attestations: [slsaprovenance1]    # also signed by an authority
      annotations: {env: prod}           # signed by the signature, as -a wants
      multi-arch: each                   # or index (the default)
      max-age: 720h
    - pattern: docker.io/library/*
      allow-unsigned: true

An entry's "insecure-ignore-tlog: true" and "insecure-ignore-sct: true" waive
the log proof and the SCT for the images it matches, with a warning.

Exit codes: 0 verified, and the digest is printed; 1 it did not verify, and the
message names the check that failed (no signature found, no attestation found,
key mismatch, identity mismatch, no transparency-log proof, sct (no SCT from a
trusted CT log), certificate expired at signing time, signature too old, digest
mismatch, annotations, image not allowed by the trust policy); 2 the inputs could not be read.`,
		Example: `  customs verify registry.example/app:1.0 --key cosign.pub --trusted-root trusted_root.json
  customs verify ghcr.io/org/app:1.0 --trusted-root trusted_root.json \
      --certificate-identity-regexp '^https://github.com/org/app/' \
      --certificate-oidc-issuer https://token.actions.githubusercontent.com --max-age 720h
  customs verify registry.example/app:1.0 --key cosign.pub --trusted-root trusted_root.json \
      --attestation slsaprovenance1 --print-predicate | jq .buildDefinition
  customs verify registry.example/app:1.0 --policy trust.yaml`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(vf.outputs, textOrJSON, "text")
			if err != nil {
				return err
			}
			if multiArch != verify.MultiArchIndex && multiArch != verify.MultiArchEach {
				return usageError{err: fmt.Errorf("--multi-arch %q: use index or each", multiArch)}
			}
			required, err := parseAnnotations(annotations)
			if err != nil {
				return err
			}
			var policy *verify.Policy
			var req verify.Request
			if policyFile != "" {
				if vf.trustSet(cmd) || len(attestations) > 0 || cmd.Flags().Changed("multi-arch") {
					return usageError{err: fmt.Errorf("--policy says who must sign, what must be attested and how multi-arch images are verified: drop the trust flags, --attestation and --multi-arch, or drop --policy")}
				}
				var err error
				if policy, err = a.loadTrustPolicy(policyFile, vf.tufMirror, vf.tufRoot); err != nil {
					return err
				}
				policy.RequireAnnotations = required
			} else {
				opts, err := vf.options(a)
				if err != nil {
					return err
				}
				for _, t := range attestations {
					if _, err := verify.PredicateType(t); err != nil {
						return usageError{err: err}
					}
				}
				req = verify.Request{Options: opts, Attestations: attestations, Annotations: required, MultiArch: multiArch}
			}
			if printPredicate && len(attestations) == 0 {
				return usageError{err: fmt.Errorf("--print-predicate needs --attestation TYPE")}
			}
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			popts, err := pf.options(a, cmd)
			if err != nil {
				return err
			}
			ref, ro, err := pull.Remote(cmd.Context(), target, popts)
			if err != nil {
				return err
			}
			if policy != nil {
				res, err := policy.Verify(cmd.Context(), ref, ro)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], withHint(err, true))
				}
				return a.emit(outs, func(w io.Writer, format string) error {
					if format == "json" {
						return a.to(w).writeJSON(res)
					}
					a.to(w).printPolicyResult(res)
					return nil
				})
			}
			res, err := verify.Image(cmd.Context(), ref, ro, req)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], withHint(err, false))
			}
			switch {
			case printPredicate:
				for _, at := range res.Attestations {
					if _, err := fmt.Fprintf(a.stdout, "%s\n", at.Predicate); err != nil {
						return err
					}
				}
				fmt.Fprintf(a.stderr, "Verified OK: %s\n", res.Reference)
				return nil
			}
			return a.emit(outs, func(w io.Writer, format string) error {
				if format == "json" {
					return a.to(w).writeJSON(res)
				}
				a.to(w).printImageResult(res)
				return nil
			})
		},
	}
	vf.register(cmd)
	pf.registerRegistry(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&attestations, "attestation", nil, "verify an attestation of this predicate type instead of a signature (repeatable; slsaprovenance, slsaprovenance1, spdxjson, cyclonedx, vuln, openvex, link, custom, or a URI)")
	fl.StringArrayVarP(&annotations, "annotations", "a", nil, "KEY=VALUE the signature must sign, as cosign sign -a writes it (repeatable)")
	fl.BoolVar(&printPredicate, "print-predicate", false, "print the verified attestations' predicates (JSON, one per line) on stdout")
	fl.StringVar(&multiArch, "multi-arch", verify.MultiArchIndex, "for a multi-arch image: index (a signature on the index) or each (one on every platform manifest)")
	fl.StringVar(&policyFile, "policy", "", "take who must sign, and what must be attested, from this trust policy (YAML)")
	cmd.AddCommand(a.newVerifyBlobCmd())
	return cmd
}

// warnInsecurePolicy says which entries of a trust policy waive the
// transparency-log proof of the signatures they accept, or the SCT of the
// keyless certificates.
func (a *app) warnInsecurePolicy(p *verify.Policy) {
	for _, ip := range p.Images {
		for _, w := range ip.Waivers() {
			fmt.Fprintf(a.stderr, "customs: warning: %s:%d: %s: %s for %s are accepted without %s\n", p.Source, ip.Line, w.Option, w.What, ip.Pattern, w.Without)
		}
	}
}

// trustSet reports whether a flag saying who must sign was given.
func (f *verifyFlags) trustSet(cmd *cobra.Command) bool {
	for _, n := range []string{"key", "certificate-identity", "certificate-identity-regexp", "certificate-oidc-issuer", "certificate-oidc-issuer-regexp",
		"certificate-github-workflow-trigger", "certificate-github-workflow-sha", "certificate-github-workflow-name", "certificate-github-workflow-repository", "certificate-github-workflow-ref", "trusted-root", "max-age", "insecure-ignore-tlog", "insecure-ignore-sct"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// printImageResult prints what verified of an image.
func (a *app) printImageResult(res *verify.ImageResult) {
	fmt.Fprintf(a.stdout, "Verified OK: %s\n", res.Reference)
	if len(res.Platforms) > 0 {
		for _, p := range res.Platforms {
			fmt.Fprintf(a.stdout, "platform %s: %s\n", p.Platform, p.Digest)
			a.printSigned(&p.ImageResult, "  ")
		}
		return
	}
	a.printSigned(res, "")
}

func (a *app) printSigned(res *verify.ImageResult, indent string) {
	if len(res.Attestations) == 0 || res.Scheme != res.Attestations[0].Scheme || res.Result != res.Attestations[0].Result {
		fmt.Fprintf(a.stdout, "%ssignature: %s scheme\n", indent, res.Scheme)
		a.printResultIndent(&res.Result, indent)
	}
	for _, k := range slices.Sorted(maps.Keys(res.Annotations)) {
		fmt.Fprintf(a.stdout, "%sannotation: %s=%s\n", indent, k, res.Annotations[k])
	}
	for _, at := range res.Attestations {
		fmt.Fprintf(a.stdout, "%sattestation: %s (%s scheme)\n", indent, at.PredicateType, at.Scheme)
		a.printResultIndent(&at.Result, indent+"  ")
	}
}

// printPolicyResult prints the trust policy's verdict.
func (a *app) printPolicyResult(res *verify.PolicyResult) {
	switch {
	case res.Signature != nil:
		a.printImageResult(res.Signature)
		fmt.Fprintf(a.stdout, "policy entry: %s\n", res.Entry)
	case res.Entry != "":
		fmt.Fprintf(a.stdout, "Allowed unsigned: %s (policy entry %s)\n", res.Reference, res.Entry)
	default:
		fmt.Fprintf(a.stdout, "Allowed unsigned: %s (no policy entry matches; the policy allows unmatched images)\n", res.Reference)
	}
}

// printResult prints who signed and when.
func (a *app) printResult(res *verify.Result) { a.printResultIndent(res, "") }

func (a *app) printResultIndent(res *verify.Result, indent string) {
	fmt.Fprintf(a.stdout, "%ssigner: %s\n", indent, res.Signer)
	if res.Issuer != "" {
		fmt.Fprintf(a.stdout, "%sissuer: %s\n", indent, res.Issuer)
	}
	if res.SignedAt.IsZero() {
		// Only a log entry or a signed timestamp dates a signature.
		fmt.Fprintf(a.stdout, "%ssigned at: unknown (no transparency-log entry or signed timestamp verified)\n", indent)
	} else {
		fmt.Fprintf(a.stdout, "%ssigned at: %s\n", indent, res.SignedAt.UTC().Format(time.RFC3339))
	}
	if res.LogIndex >= 0 {
		fmt.Fprintf(a.stdout, "%slog index: %d\n", indent, res.LogIndex)
	}
}

func (a *app) newVerifyBlobCmd() *cobra.Command {
	var vf verifyFlags
	var bundlePath string
	cmd := &cobra.Command{
		Use:   "blob --bundle FILE (--key K | --certificate-identity I --certificate-oidc-issuer U) [--trusted-root R] FILE_OR_DIGEST",
		Short: "Verify a Sigstore or cosign bundle over a file or a digest",
		Long: `Verifies a Sigstore bundle (message signature or DSSE attestation) over
FILE_OR_DIGEST, a path or sha256:<hex> (sha384, sha512 too), offline against
--trusted-root, else against the trusted root Sigstore publishes through TUF.
The bundle cosign v2 writes without --new-bundle-format (base64Signature, cert,
rekorBundle) is read too, and checked the same way; it signs the SHA-256
digest, so give the file or sha256:<hex>.
A transparency-log entry or an RFC 3161 signed timestamp must vouch
for the signing time (Rekor v2 bundles carry only the latter), unless
--insecure-ignore-tlog; a keyless certificate must carry a signed certificate
timestamp (SCT) from a CT log of the trusted root, unless --insecure-ignore-sct.
With --insecure-ignore-tlog, a log entry or timestamp that verifies still dates
the signature; without one the signing time is unknown, and --max-age fails.

Exit codes: 0 verified; 1 it did not verify, and the message names the check that
failed (no signature found, key mismatch, identity mismatch, no transparency-log
proof, sct (no SCT from a trusted CT log), certificate expired at signing time,
signature too old, digest mismatch); 2 the inputs could not be read (a malformed
bundle, key or root).`,
		Example: `  customs verify blob --bundle app.sigstore.json --key cosign.pub --trusted-root trusted_root.json app.tar.gz
  customs verify blob --bundle prov.sigstore.json --trusted-root trusted_root.json \
      --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \
      --certificate-oidc-issuer https://token.actions.githubusercontent.com sha512:46d4…`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{err: fmt.Errorf("verify blob takes one FILE_OR_DIGEST")}
			}
			if bundlePath == "" {
				return usageError{err: fmt.Errorf("--bundle is required")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(vf.outputs, textOrJSON, "text")
			if err != nil {
				return err
			}
			opts, err := vf.options(a)
			if err != nil {
				return err
			}
			b, err := verify.LoadBlobBundle(bundlePath)
			if err != nil {
				return err
			}
			art, closer, err := verify.ParseArtifact(args[0])
			if err != nil {
				return err
			}
			if closer != nil {
				defer closer.Close()
			}
			res, err := verify.Blob(b, art, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], withHint(err, false))
			}
			return a.emit(outs, func(w io.Writer, format string) error {
				if format == "json" {
					return a.to(w).writeJSON(res)
				}
				fmt.Fprintf(w, "Verified OK: %s\n", args[0])
				a.to(w).printResult(res)
				return nil
			})
		},
	}
	vf.register(cmd)
	cmd.Flags().StringVar(&bundlePath, "bundle", "", "the bundle: a Sigstore bundle (.sigstore.json), or cosign v2's own format")
	return cmd
}
