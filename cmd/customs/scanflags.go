package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/posture"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/verify"
	"github.com/customs-dev/customs/vuln"
)

// scanFlags are the policy and data flags of the commands that scan:
// scan and diff.
type scanFlags struct {
	db, failOn, unknown, config string
	vexFiles                    []string
	trustPolicy                 string
	annotations                 []string
	maxAge, warnAge             time.Duration
	allowUnscanned              bool
	posture                     bool
	maxRecordSize               string
	requirePosture              []string
	reachability                string
}

func (sf *scanFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.db, "db", "", "vulnerability database directory (default $CUSTOMS_DB, else the cache dir + /osv)")
	f.StringVar(&sf.failOn, "fail-on", "high", "lowest severity that fails the scan: low, medium, high or critical")
	f.StringVar(&sf.unknown, "unknown-severity", "fail", "what findings without a severity do to the gate: fail or pass")
	f.StringVar(&sf.config, "config", "", "ignore file (default .customs.yaml in the working directory, if present)")
	f.StringArrayVar(&sf.vexFiles, "vex", nil, "OpenVEX document whose not_affected and fixed statements suppress findings (repeatable)")
	f.StringVar(&sf.trustPolicy, "policy", "", "trust policy (YAML): the image must be signed as it says; the digest that verified is the one scanned")
	f.StringArrayVarP(&sf.annotations, "annotations", "a", nil, "with --policy: KEY=VALUE the image's signature must sign, as cosign sign -a writes it (repeatable)")
	f.BoolVar(&sf.allowUnscanned, "allow-unscanned", false, "pass packages customs cannot match (rpm, unknown distributions) or has no vulnerability data for (an ecosystem missing from --db) instead of failing; reports list them as unscanned")
	f.DurationVar(&sf.maxAge, "max-db-age", 0, "fail when the vulnerability data is older than this (for example 168h); 0 never fails")
	f.DurationVar(&sf.warnAge, "db-warn-age", 7*24*time.Hour, "warn when the vulnerability data is older than this")
	f.StringVar(&sf.maxRecordSize, "max-osv-record-size", "16MiB", "skip (with a warning) OSV records larger than this")
	f.BoolVar(&sf.posture, "posture", true, "check how an image is built: root user, setuid files, shells, attack tools, miners, secrets (--posture=false skips it)")
	f.StringVar(&sf.reachability, "reachability", "gate", "Go vulnerabilities in executables and Go source, graded by whether the program holds (in source: its entry points call) the vulnerable function (called), package (imported) or only module (required): gate fails on called ones only, report grades and fails on every one, off does not grade (docs/reachability.md)")
	f.StringSliceVar(&sf.requirePosture, "require-posture", nil, "posture rules whose findings fail the scan, besides secret and miner (comma-separated: "+strings.Join(posture.RuleIDs(), ", ")+")")
}

// options builds the scanner and the request from the flags: where to
// fetch, the data, the policy and the trust policy, and how Go code is
// built.
func (sf *scanFlags) options(a *app, pf *pullFlags, cf *capsFlags, cmd *cobra.Command) (*scan.Scanner, scan.Request, error) {
	opts, policy, trust, err := sf.policies(a, pf, cmd)
	if err != nil {
		return nil, scan.Request{}, err
	}
	maxRecord, err := parseSize(sf.maxRecordSize)
	if err != nil {
		return nil, scan.Request{}, usageError{err: fmt.Errorf("--max-osv-record-size %q: %v", sf.maxRecordSize, err)}
	}
	s := &scan.Scanner{
		Cache:         opts.Cache,
		Pull:          opts,
		SBOM:          pf.sbomOptions(opts.Cache, opts.Logger, opts.Progress),
		DB:            a.dbPath(sf.db),
		MaxRecordSize: maxRecord,
		Logger:        opts.Logger,
		Spell:         flag,
	}
	return s, scan.Request{
		Trust:             trust,
		Policy:            policy,
		Posture:           sf.posture,
		CapabilitiesBuild: cf.build(),
	}, nil
}

func (sf *scanFlags) policies(a *app, pf *pullFlags, cmd *cobra.Command) (pull.Options, scan.Policy, *verify.Policy, error) {
	policy := scan.DefaultPolicy()
	var err error
	if policy.FailOn, err = vuln.ParseSeverity(sf.failOn); err != nil || policy.FailOn == vuln.Unknown {
		return pull.Options{}, policy, nil, usageError{err: fmt.Errorf("--fail-on %q: use low, medium, high or critical", sf.failOn)}
	}
	switch sf.unknown {
	case "fail":
	case "pass":
		policy.UnknownSeverityPasses = true
	default:
		return pull.Options{}, policy, nil, usageError{err: fmt.Errorf("--unknown-severity %q: use fail or pass", sf.unknown)}
	}
	reachability, err := scan.ParseReachability(sf.reachability)
	if err != nil {
		return pull.Options{}, policy, nil, usageError{err: fmt.Errorf("--%v", err)}
	}
	policy.MaxDBAge, policy.WarnDBAge = sf.maxAge, sf.warnAge
	policy.AllowUnscanned = sf.allowUnscanned
	if len(sf.requirePosture) > 0 {
		if err := posture.CheckRules(sf.requirePosture); err != nil {
			return pull.Options{}, policy, nil, usageError{err: fmt.Errorf("--require-posture: %v", err)}
		}
		policy.Posture = append(policy.Posture, scan.PostureRequirement{Require: sf.requirePosture, Source: "--require-posture"})
	}
	if err := a.loadIgnores(&policy, sf.config); err != nil {
		return pull.Options{}, policy, nil, err
	}
	// The flag, when given, overrides the ignore file's reachability.
	if policy.Reachability == "" || cmd != nil && cmd.Flags().Changed("reachability") {
		policy.Reachability = reachability
	}
	for _, f := range sf.vexFiles {
		st, err := scan.ReadVEX(f)
		if err != nil {
			return pull.Options{}, policy, nil, fmt.Errorf("reading VEX %s: %w", f, err)
		}
		policy.VEX = append(policy.VEX, st...)
	}
	opts, err := pf.options(a, cmd)
	if err != nil {
		return pull.Options{}, policy, nil, err
	}
	annotations, err := parseAnnotations(sf.annotations)
	if err != nil {
		return pull.Options{}, policy, nil, err
	}
	var trust *verify.Policy
	if sf.trustPolicy != "" {
		if trust, err = a.loadTrustPolicy(sf.trustPolicy, verify.PublicGoodMirror, ""); err != nil {
			return pull.Options{}, policy, nil, err
		}
		trust.RequireAnnotations = annotations
	} else if annotations != nil {
		return pull.Options{}, policy, nil, usageError{err: fmt.Errorf("--annotations are checked on the signature a trust policy verifies: give --policy FILE")}
	}
	return opts, policy, trust, nil
}
