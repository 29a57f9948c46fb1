package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/verify"
)

// verifyFlags are the trust flags shared by the verify commands.
type verifyFlags struct {
	key, trustedRoot         string
	identity, identityRegexp string
	issuer, issuerRegexp     string
	maxAge                   time.Duration
	insecureIgnoreTlog       bool
	output                   string
}

func (f *verifyFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "PEM public key (ECDSA, Ed25519 or RSA) that must have signed")
	fl.StringVar(&f.identity, "certificate-identity", "", "keyless: the signer's identity (certificate SAN), exactly")
	fl.StringVar(&f.identityRegexp, "certificate-identity-regexp", "", "keyless: a regexp the signer's identity must match")
	fl.StringVar(&f.issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer that vouched for the identity, exactly")
	fl.StringVar(&f.issuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regexp the OIDC issuer must match")
	fl.StringVar(&f.trustedRoot, "trusted-root", "", "trusted_root.json with the Fulcio, Rekor and timestamp authority keys (verifies offline)")
	fl.DurationVar(&f.maxAge, "max-age", 0, "fail when the verified signing time is older than this (for example 720h)")
	fl.BoolVar(&f.insecureIgnoreTlog, "insecure-ignore-tlog", false, "UNSAFE: accept signatures with neither a transparency-log entry nor a signed timestamp")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
}

func (f *verifyFlags) options() (verify.Options, error) {
	var opts verify.Options
	var err error
	switch {
	case f.trustedRoot != "":
		tr, err := verify.LoadTrustedRoot(f.trustedRoot)
		if err != nil {
			return opts, err
		}
		opts.TrustedRoot = tr
	case f.key != "" && f.insecureIgnoreTlog:
		// A key alone, with no log or timestamp to check, needs no root.
	default:
		return opts, usageError{fmt.Errorf("--trusted-root is required (the Rekor, Fulcio and timestamp keys): online trust through Sigstore's TUF repository is not implemented yet")}
	}
	keyless := f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.issuerRegexp != ""
	switch {
	case f.key != "" && keyless:
		return opts, usageError{fmt.Errorf("give --key or --certificate-identity/--certificate-oidc-issuer, not both")}
	case f.key != "":
		if opts.Key, err = verify.LoadKey(f.key); err != nil {
			return opts, err
		}
	case (f.identity == "" && f.identityRegexp == "") || (f.issuer == "" && f.issuerRegexp == ""):
		return opts, usageError{fmt.Errorf("say who must have signed: --key FILE, or --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")}
	default:
		opts.Identity = &verify.Identity{Subject: f.identity, SubjectRegexp: f.identityRegexp, Issuer: f.issuer, IssuerRegexp: f.issuerRegexp}
	}
	opts.MaxAge, opts.InsecureIgnoreTlog = f.maxAge, f.insecureIgnoreTlog
	return opts, nil
}

func (a *app) newVerifyCmd() *cobra.Command {
	var vf verifyFlags
	var pf pullFlags
	cmd := &cobra.Command{
		Use:   "verify IMAGE (--key K | --certificate-identity I --certificate-oidc-issuer U) [--trusted-root R]",
		Short: "Verify the cosign/Sigstore signatures of an image in a registry, or of a blob",
		Long: `Resolves IMAGE's tag once and verifies a signature on the digest it resolved to:
a Sigstore bundle attached as an OCI referrer (cosign v3; the referrers tag where
the registry has no referrers API), or a signature under cosign's classic
<repo>:sha256-<hex>.sig tag (cosign v2). Only a signature on that digest counts,
so a tag moved to an unsigned image fails. A transparency-log entry or an RFC 3161
signed timestamp must vouch for the signing time, checked offline against
--trusted-root, unless --insecure-ignore-tlog.

Exit codes: 0 verified, and the digest is printed; 1 it did not verify, and the
message names the check that failed (no signature found, key mismatch, identity
mismatch, no transparency-log proof, certificate expired at signing time,
signature too old, digest mismatch); 2 the inputs could not be read.`,
		Example: `  customs verify registry.example/app:1.0 --key cosign.pub --trusted-root trusted_root.json
  customs verify ghcr.io/org/app:1.0 --trusted-root trusted_root.json \
      --certificate-identity-regexp '^https://github.com/org/app/' \
      --certificate-oidc-issuer https://token.actions.githubusercontent.com --max-age 720h`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options()
			if err != nil {
				return err
			}
			target, err := pull.ParseTarget(args[0])
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
			res, err := verify.Image(cmd.Context(), ref, ro, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if vf.output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(a.stdout, "Verified OK: %s\nsignature: %s scheme\n", res.Reference, res.Scheme)
			a.printResult(&res.Result)
			return nil
		},
	}
	vf.register(cmd)
	pf.register(cmd)
	cmd.AddCommand(a.newVerifyBlobCmd())
	return cmd
}

// printResult prints who signed and when.
func (a *app) printResult(res *verify.Result) {
	fmt.Fprintf(a.stdout, "signer: %s\n", res.Signer)
	if res.Issuer != "" {
		fmt.Fprintf(a.stdout, "issuer: %s\n", res.Issuer)
	}
	if !res.SignedAt.IsZero() {
		fmt.Fprintf(a.stdout, "signed at: %s\n", res.SignedAt.UTC().Format(time.RFC3339))
	}
	if res.LogIndex >= 0 {
		fmt.Fprintf(a.stdout, "log index: %d\n", res.LogIndex)
	}
}

func (a *app) newVerifyBlobCmd() *cobra.Command {
	var vf verifyFlags
	var bundlePath string
	cmd := &cobra.Command{
		Use:   "blob --bundle FILE (--key K | --certificate-identity I --certificate-oidc-issuer U) --trusted-root R FILE_OR_DIGEST",
		Short: "Verify a Sigstore bundle over a file or a digest",
		Long: `Verifies a Sigstore bundle (message signature or DSSE attestation) over
FILE_OR_DIGEST, a path or sha256:<hex> (sha384, sha512 too), offline against
--trusted-root. A transparency-log entry or an RFC 3161 signed timestamp must vouch
for the signing time (Rekor v2 bundles carry only the latter).

Exit codes: 0 verified; 1 it did not verify, and the message names the check that
failed (no signature found, key mismatch, identity mismatch, no transparency-log
proof, certificate expired at signing time, signature too old, digest mismatch);
2 the inputs could not be read (a malformed bundle, key or root).`,
		Example: `  customs verify blob --bundle app.sigstore.json --key cosign.pub --trusted-root trusted_root.json app.tar.gz
  customs verify blob --bundle prov.sigstore.json --trusted-root trusted_root.json \
      --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \
      --certificate-oidc-issuer https://token.actions.githubusercontent.com sha512:46d4…`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("verify blob takes one FILE_OR_DIGEST")}
			}
			if bundlePath == "" {
				return usageError{fmt.Errorf("--bundle is required")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options()
			if err != nil {
				return err
			}
			b, err := verify.LoadBundle(bundlePath)
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
			res, err := verify.Entity(b, art, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if vf.output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(a.stdout, "Verified OK: %s\n", args[0])
			a.printResult(res)
			return nil
		},
	}
	vf.register(cmd)
	cmd.Flags().StringVar(&bundlePath, "bundle", "", "the Sigstore bundle (.sigstore.json)")
	return cmd
}
