package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/report"
	"github.com/customs-dev/customs/result"
	"github.com/customs-dev/customs/scan"
)

func (a *app) newDiffCmd() *cobra.Command {
	var pf pullFlags
	var sf scanFlags
	var cf capsFlags
	var outputs []string
	var repo string
	var allowDeclared bool
	cmd := &cobra.Command{
		Use:   "diff BASE HEAD",
		Short: "What a change brings in: packages, vulnerabilities, capabilities and signatures, base against head",
		Long: `Compares two scans and fails (exit 1) only on what the head brings in:
vulnerabilities introduced at or above --fail-on, capabilities a module's code
gained, an image that was verified and no longer is. Findings the base already
had, or of packages the change did not touch (an advisory published since), are
not the change's doing and do not fail it.

BASE and HEAD are each:
  a git revision of the repository in the working directory (or --repo): main,
               HEAD, a commit; its tree is exported and scanned as dir: with its
               capabilities.txt, if it has one
  a customs JSON report (customs scan -o json=FILE), for example the base
               branch's, kept as a CI artifact
  a scan target: an image reference, gomod:MODULE@VERSION, dir:PATH, …

A capability gained fails even when the change grants it in capabilities.txt:
that is for a reviewer to accept, with --allow-declared-changes.

Formats (-o FORMAT[=FILE], repeatable; default table): table, json, markdown (a
pull-request comment for GitHub and GitLab).`,
		Example: `  customs diff origin/main HEAD -o markdown=comment.md -o table
  customs diff base.json head.json -o json
  customs diff gomod:github.com/tidwall/gjson@v1.6.5 gomod:github.com/tidwall/gjson@v1.9.3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{err: fmt.Errorf("diff takes BASE and HEAD, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			outs, err := parseOutputs(outputs, report.DiffFormats, report.DiffFormats[0])
			if err != nil {
				return err
			}
			scanner, sopts, err := sf.options(a, &pf, &cf, cmd)
			if err != nil {
				return err
			}
			var sides [2]*result.Result
			var revisions [2]string
			for i, arg := range args {
				if sides[i], revisions[i], err = a.diffSide(cmd.Context(), scanner, arg, repo, sopts); err != nil {
					return err
				}
			}
			// Both sides are matched against the same database: a warning
			// about it (its age, a record skipped) is said once, and only
			// what one side alone met is said with the side's name.
			for i, arg := range args {
				for _, w := range sides[i].Warnings {
					switch {
					case !slices.Contains(sides[1-i].Warnings, w):
						fmt.Fprintf(a.stderr, "customs: %s: warning: %s\n", arg, w)
					case i == 0:
						fmt.Fprintf(a.stderr, "customs: warning: %s\n", w)
					}
				}
			}
			c := scan.Compare(sides[0], sides[1], scan.CompareOptions{AllowDeclaredChanges: allowDeclared, Spell: flag})
			c.Base.Revision, c.Head.Revision = revisions[0], revisions[1]
			rendered := make([][]byte, len(outs))
			for i, o := range outs {
				var buf bytes.Buffer
				if err := report.WriteComparison(&buf, c, o.format); err != nil {
					return err
				}
				rendered[i] = buf.Bytes()
			}
			if err := writeOutputs(a.stdout, outs, rendered); err != nil {
				return err
			}
			if !c.Passed {
				err := &scan.PolicyError{Reasons: c.Reasons}
				// The table said FAILED on the terminal that is stderr too.
				if slices.Contains(outs, output{format: "table"}) && a.isTerminal(a.stdout) && a.isTerminal(a.stderr) {
					return shownError{err}
				}
				return err
			}
			return nil
		},
	}
	pf.register(cmd)
	sf.register(cmd)
	cf.register(cmd, false)
	f := cmd.Flags()
	f.StringArrayVarP(&outputs, "output", "o", nil, "output FORMAT[=FILE] (repeatable): table, json, markdown")
	f.StringVar(&repo, "repo", "", "git repository whose revisions BASE and HEAD name (default: the working directory's)")
	f.BoolVar(&allowDeclared, "allow-declared-changes", false, "let a capability gained pass when the head's capabilities.txt grants it")
	return cmd
}

// diffSide scans one side of a diff, or reads its report; for a git
// revision it also returns the commit.
func (a *app) diffSide(ctx context.Context, scanner *scan.Scanner, arg, repo string, opts scan.Request) (*result.Result, string, error) {
	if strings.HasSuffix(arg, ".json") {
		if _, err := os.Stat(arg); err == nil {
			r, err := result.Read(arg)
			if err != nil {
				return nil, "", usageError{err: err}
			}
			return r, "", nil
		}
	}
	if commit, ok := gitCommit(repo, arg); ok {
		dir, err := a.gitTree(repo, commit)
		if err != nil {
			return nil, "", fmt.Errorf("exporting %s: %w", arg, err)
		}
		r, err := a.scanSide(ctx, scanner, pull.Target{Kind: pull.Dir, Ref: dir, Input: "dir:" + dir}, opts)
		if r != nil {
			r.Target.Input = arg
		}
		return r, commit, err
	}
	t, err := parseTarget(arg)
	if err != nil {
		return nil, "", err
	}
	r, err := a.scanSide(ctx, scanner, t, opts)
	return r, "", err
}

func (a *app) scanSide(ctx context.Context, scanner *scan.Scanner, t pull.Target, opts scan.Request) (*result.Result, error) {
	r, err := scanner.Scan(ctx, t, opts)
	var perr *scan.PolicyError
	if err != nil && !errors.As(err, &perr) {
		return nil, fmt.Errorf("scanning %s: %w", t.Input, err)
	}
	return r, nil
}

// gitCommit resolves a revision of the repository, when arg names one and
// is not a path.
func gitCommit(repo, arg string) (string, bool) {
	if _, err := os.Stat(arg); err == nil || strings.Contains(arg, ":") {
		return "", false
	}
	args := []string{"rev-parse", "--verify", "--quiet", arg + "^{commit}"}
	if repo != "" {
		args = append([]string{"-C", repo}, args...)
	}
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

// gitTree exports a commit's tree once into the cache, under its commit
// hash, so that a later diff of the same revision finds its SBOM and its
// capability analysis cached (they are keyed by the directory).
func (a *app) gitTree(repo, commit string) (string, error) {
	root := filepath.Join(a.cachePath(), "git-trees")
	dir := filepath.Join(root, commit)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, ".export-")
	if err != nil {
		return "", err
	}
	if err := gitExport(repo, commit, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another run exported it meanwhile
		}
		return "", err
	}
	return dir, nil
}

// gitExport writes the tree of a commit into dir, refusing entries that
// would land outside it.
func gitExport(repo, commit, dir string) error {
	args := []string{"archive", "--format=tar", commit}
	if repo != "" {
		args = append([]string{"-C", repo}, args...)
	}
	cmd := exec.Command("git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	tr := tar.NewReader(out)
	var extractErr error
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			extractErr = err
			break
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			extractErr = fmt.Errorf("the tree has an entry outside it: %q", h.Name)
			break
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			extractErr = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			if extractErr = os.MkdirAll(filepath.Dir(p), 0o755); extractErr == nil {
				var f *os.File
				if f, extractErr = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600); extractErr == nil {
					_, extractErr = io.Copy(f, tr)
					f.Close()
				}
			}
		case tar.TypeSymlink:
			// A symbolic link in the tree stays a link inside the export;
			// nothing follows it out while scanning a directory.
			if extractErr = os.MkdirAll(filepath.Dir(p), 0o755); extractErr == nil {
				extractErr = os.Symlink(h.Linkname, p)
			}
		}
		if extractErr != nil {
			break
		}
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return extractErr
}
