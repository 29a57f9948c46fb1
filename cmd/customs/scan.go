package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/capabilities"
	"github.com/customs-dev/customs/report"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/scan"
	"github.com/customs-dev/customs/vuln"
)

func (a *app) newScanCmd() *cobra.Command {
	var pf pullFlags
	var sf scanFlags
	var outputs []string
	var capsFile string
	var cf capsFlags
	var baselineFile string
	var failOnExisting, allowDeclared bool
	cmd := &cobra.Command{
		Use:   "scan TARGET",
		Short: "Scan an image, module, directory or SBOM for known vulnerabilities and apply the policy",
		Long: `Pulls TARGET, makes its SBOM, matches the packages against OSV vulnerability
data offline, and holds the findings against the policy.

The gate: findings at or above --fail-on (default high) fail the scan (exit 1).
Findings with no severity at all (UNKNOWN) fail too, unless --unknown-severity
pass: a gate must not open for want of data. For the same reason,
distribution packages that customs cannot match (rpm, say) fail the scan,
and packages of an ecosystem the database has no data for stop it (exit 2),
unless --allow-unscanned: then the rest is scanned and gated, and every
report lists what was not scanned (JSON "unscanned", with package counts).

Ignores: .customs.yaml in the working directory (or --config FILE):
  ignore:
    - id: GO-2021-0113
      package: golang.org/x/text   # optional
      reason: only parses trusted language tags
      until: 2027-01-31            # optional; expired entries stop ignoring
Expired and unused entries are reported. --vex FILE (OpenVEX, repeatable):
not_affected and fixed statements suppress the findings they name.

The vulnerability data (--db, else $CUSTOMS_DB, else the cache dir + /osv) is
osv-scanner's offline layout, DIR/<Ecosystem>/all.zip, or a directory of OSV
JSON records. Get it with "customs db update".

Signatures: --policy FILE (a trust policy, see "customs verify --help") resolves
the image's tag once, verifies the signature on that digest, and scans exactly
that digest; a failed verification fails the scan (exit 1) and the report says
which check failed. -a KEY=VALUE (repeatable) also wants the signature to sign
that annotation, as cosign verify -a does.

Capabilities: Go source (dir: with a go.mod, or gomod:) that has a
capabilities.txt at its root, or is given one with --capabilities, is analyzed
as customs caps check does; a capability a module's code exercises but is not
granted fails the scan (exit 1) and the report lists it with its call path.

Posture (images): how the image is built. Reading the layers the SBOM reads,
customs reports a root user, exposed ports, credentials in the environment or
build history, a missing HEALTHCHECK, a moving tag, setuid/setgid executables,
world-writable paths outside /tmp, shells and package managers (an image
without either is "minimal"), network and attack tools (nc, socat, curl, wget,
nmap, tcpdump, gdb, strace, ...), cryptominers (by name, and by the stratum
pool URLs and strings miners carry), files a later layer deleted (still in the
image), and secrets (private keys, cloud credentials, tokens; found with the
detectors of Google's Veles, osv-scalibr's secret scanner, and never shown:
reports give the kind, the place and a fingerprint). Findings of the rules
secret and miner fail the scan; require more with --require-posture
root-user,attack-tool, with a posture: list in a trust policy's image entry,
or per repository in .customs.yaml:
  posture:
    - images: "registry.example/prod/**"
      require: [root-user, attack-tool, setuid]
An ignore entry names a rule and, optionally, a path:
    - id: attack-tool
      path: /usr/bin/curl
      reason: the health check uses it
      until: 2027-03-31
--posture=false skips the checks.

Formats (-o FORMAT[=FILE], repeatable; default table to stdout): table, json,
sarif, cyclonedx-json (the SBOM with vulnerabilities), openvex, markdown, junit
(JUnit XML for CI test views), gitlab (GitLab's dependency scanning report,
gl-dependency-scanning-report.json).

Pre-merge: --baseline REPORT (a JSON report of the base branch) fails only on
findings the change brings in, and on capabilities a module gained; see also
customs diff.`,
		Example: `  customs scan gomod:github.com/tidwall/gjson@v1.6.5 --db testdata/osv-demo
  customs scan registry.example/app:1.0 --fail-on critical -o sarif=customs.sarif -o table
  customs scan sbom:app.cdx.json --vex app.openvex.json -o json=report.json`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(outputs, report.Formats, report.Formats[0])
			if err != nil {
				return err
			}
			scanner, sopts, err := sf.options(a, &pf, &cf, cmd)
			if err != nil {
				return err
			}
			var base *result.Result
			if baselineFile != "" {
				if base, err = result.Read(baselineFile); err != nil {
					return usageError{err: err}
				}
			}
			target, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			defer a.tuneGC(target)()
			var declared *capabilities.File
			if capsFile != "" {
				if declared, err = loadDeclaration(capsFile); err != nil {
					return err
				}
			}
			sopts.Baseline, sopts.FailOnExisting, sopts.AllowDeclaredChanges = base, failOnExisting, allowDeclared
			sopts.Capabilities = declared
			sopts.NeedSBOM = slices.ContainsFunc(outs, func(o output) bool { return o.format == "cyclonedx-json" })
			res, err := scanner.Scan(cmd.Context(), target, sopts)
			var perr *scan.PolicyError
			var merr *vuln.MissingEcosystemError
			if errors.As(err, &merr) {
				return fmt.Errorf("%w; or pass --allow-unscanned to scan the other packages and report these as unscanned", err)
			}
			if err != nil && !errors.As(err, &perr) {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(a.stderr, "customs: warning: %s\n", w)
			}
			rendered := make([][]byte, len(outs))
			tableOnStdout := false
			for i, o := range outs {
				var buf bytes.Buffer
				var werr error
				if o.format == "table" && o.file == "" {
					tableOnStdout = true
					werr = report.WriteTable(&buf, res, report.TableOptions{Color: a.color(a.stdout)})
				} else {
					werr = report.Write(&buf, res, o.format)
				}
				if werr != nil {
					return fmt.Errorf("writing %s: %w", o.format, werr)
				}
				rendered[i] = buf.Bytes()
			}
			if werr := writeOutputs(a.stdout, outs, rendered); werr != nil {
				return werr
			}
			// The table ends with the FAILED line; on a terminal that is
			// stderr too, saying it again there is noise. Redirected, each
			// stream keeps its own copy.
			if err != nil && tableOnStdout && a.isTerminal(a.stdout) && a.isTerminal(a.stderr) {
				return shownError{err}
			}
			return err
		},
	}
	pf.register(cmd)
	pf.registerCI(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&outputs, "output", "o", nil, "output FORMAT[=FILE] (repeatable): table, json, sarif, cyclonedx-json, openvex, markdown, junit, gitlab")
	sf.register(cmd)
	f.StringVar(&capsFile, "capabilities", "", "hold Go source (dir:, gomod:) or the Go executables of an image or directory against this capabilities.txt (default: Go source's own capabilities.txt, if any)")
	cf.register(cmd, false)
	f.StringVar(&baselineFile, "baseline", "", "a customs JSON report of the base of the change: only new findings and capabilities gained since fail")
	f.BoolVar(&failOnExisting, "fail-on-existing", false, "with --baseline, let existing findings fail the gate as well")
	f.BoolVar(&allowDeclared, "allow-declared-changes", false, "with --baseline, let a capability gained pass when capabilities.txt grants it (by default a gain fails even if the change grants it)")
	return cmd
}

// loadIgnores reads --config, or .customs.yaml when it exists.
func (a *app) loadIgnores(p *scan.Policy, path string) error {
	explicit := path != ""
	if !explicit {
		path = ".customs.yaml"
	}
	c, err := scan.ReadConfig(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("reading the ignore file: %w", err)
	}
	p.Ignores = c.Ignore
	p.Posture = append(p.Posture, c.Posture...)
	if c.Reachability != "" {
		p.Reachability = c.Reachability
	}
	return nil
}
