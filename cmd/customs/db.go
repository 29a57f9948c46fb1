package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/customs-dev/customs/internal/cas"
	"github.com/customs-dev/customs/pull"
	"github.com/customs-dev/customs/vuln"
)

func (a *app) newDBCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the OSV vulnerability database: update, status, import",
		Long: `The vulnerability database is osv-scanner's offline layout: DIR/<Ecosystem>/all.zip,
one zip of OSV records per ecosystem, so an osv-scanner cache can be reused
(DIR/osv-scanner/... is read too). DIR is --db, else $CUSTOMS_DB, else the cache
dir + /osv.`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", "database directory (default $CUSTOMS_DB, else the cache dir + /osv)")
	cmd.AddCommand(a.newDBStatusCmd(&db), a.newDBUpdateCmd(&db), a.newDBImportCmd(&db))
	return cmd
}

func (a *app) newDBStatusCmd(db *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say which ecosystems the database has, how many records and how old",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := a.dbPath(*db)
			store, err := cas.Open(a.cachePath())
			if err != nil {
				return err
			}
			d, err := vuln.Open(dir, vuln.Options{Cache: store})
			if err != nil {
				return err
			}
			sts, err := d.Status()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "database: %s\n\n", dir)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ECOSYSTEM\tRECORDS\tNEWEST RECORD\tWRITTEN\tSOURCE")
			for _, s := range sts {
				newest := "-"
				if s.Newest.Year() > 1990 {
					newest = s.Newest.Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s (%s ago)\t%s\n", s.Ecosystem, s.Records, newest, s.Written.Format("2006-01-02 15:04"), time.Since(s.Written).Round(time.Minute), s.Source)
			}
			return tw.Flush()
		},
	}
}

func (a *app) newDBUpdateCmd(db *string) *cobra.Command {
	var ecosystems []string
	var baseURL string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download each ecosystem's all.zip, check it and swap it in atomically",
		Long: `Downloads DIR/<Ecosystem>/all.zip from the OSV project's bucket (or --base-url, a
mirror with the same layout), checks that every record parses, stores the
package index scans read beside it (all.zip.index), and replaces the old copy
atomically; the previous copy stays as all.zip.prev. Without
--ecosystem, the ecosystems the database already has are updated, or, for a new
database, ` + strings.Join(vuln.DefaultEcosystems, ", ") + `.`,
		Example: `  customs db update
  customs db update --ecosystem Go --ecosystem PyPI
  customs db update --base-url https://mirror.example/osv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(baseURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return usageError{err: fmt.Errorf("--base-url must be an https:// URL")}
			}
			if u.Scheme == "http" && !insecure && !pull.IsLoopback(u.Hostname()) {
				return usageError{err: fmt.Errorf("--base-url %s is plain HTTP, which anyone on the path can rewrite: use https, or pass --insecure-base-url to accept that", u.Redacted())}
			}
			dir := a.dbPath(*db)
			ecos := ecosystems
			if len(ecos) == 0 {
				if d, err := vuln.Open(dir, vuln.Options{}); err == nil {
					ecos = d.Ecosystems()
				}
			}
			if len(ecos) == 0 {
				ecos = vuln.DefaultEcosystems
			}
			prog := a.newProgress(a.stderr)
			counts, err := vuln.Update(cmd.Context(), dir, ecos, baseURL, &http.Client{}, func(eco string, n int64) {
				prog.update(pull.Progress{What: "downloading " + eco, Done: n})
			})
			var names []string
			for e := range counts {
				names = append(names, e)
			}
			sort.Strings(names)
			for _, e := range names {
				fmt.Fprintf(a.stdout, "%s: %d records\n", e, counts[e])
			}
			return a.indexWarnings(err)
		},
	}
	cmd.Flags().StringArrayVar(&ecosystems, "ecosystem", nil, "ecosystem to update, as OSV names it: Go, PyPI, npm, Maven, crates.io, Debian, … (repeatable)")
	cmd.Flags().StringVar(&baseURL, "base-url", vuln.DefaultBaseURL, "where <Ecosystem>/all.zip are served")
	cmd.Flags().BoolVar(&insecure, "insecure-base-url", false, "allow a plain-HTTP --base-url on another host (unsafe: the data can be rewritten in transit)")
	return cmd
}

func (a *app) newDBImportCmd(db *string) *cobra.Command {
	var ecosystem string
	cmd := &cobra.Command{
		Use:   "import DIR|ZIP",
		Short: "Install all.zip files from a directory or a zip, for air-gapped machines",
		Long: `Installs OSV data copied from elsewhere: a directory in osv-scanner's layout
(<Ecosystem>/all.zip, or osv-scanner/<Ecosystem>/all.zip), or one zip whose
ecosystem is --ecosystem or, if its records name only one, that one. Each zip is
checked and indexed as by update.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{err: fmt.Errorf("import takes one DIR or ZIP")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.dbPath(*db)
			src := args[0]
			fi, err := os.Stat(src)
			if err != nil {
				return fmt.Errorf("importing %s: %w", src, err)
			}
			zips := map[string]string{}
			if fi.IsDir() {
				for _, base := range []string{src, filepath.Join(src, "osv-scanner")} {
					matches, _ := filepath.Glob(filepath.Join(base, "*", "all.zip"))
					for _, m := range matches {
						zips[filepath.Base(filepath.Dir(m))] = m
					}
				}
				if len(zips) == 0 {
					return fmt.Errorf("importing %s: no <Ecosystem>/all.zip in it", src)
				}
			} else {
				// Without --ecosystem, the zip's records say which.
				zips[ecosystem] = src
			}
			var names []string
			for e := range zips {
				names = append(names, e)
			}
			sort.Strings(names)
			for _, e := range names {
				zip := zips[e]
				var n int
				var err error
				if e == "" {
					e, n, err = vuln.Import(dir, zip)
				} else {
					n, err = vuln.Install(dir, e, zip)
				}
				if ee := (*vuln.EcosystemsError)(nil); errors.As(err, &ee) {
					return usageError{err: fmt.Errorf("importing %v: say which with --ecosystem", ee)}
				}
				if err = a.indexWarnings(err); err != nil {
					return fmt.Errorf("importing %s: %w", zip, err)
				}
				fmt.Fprintf(a.stdout, "%s: %d records installed in %s\n", e, n, filepath.Join(dir, e))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ecosystem, "ecosystem", "", "the ecosystem of a single zip")
	return cmd
}

// indexWarnings prints as warnings the zips that were installed without
// their index (scans index them themselves), and returns what else went
// wrong.
func (a *app) indexWarnings(err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var rest []error
	for _, e := range errs {
		if ie := (*vuln.IndexError)(nil); errors.As(e, &ie) {
			fmt.Fprintf(a.stderr, "customs: warning: %v\n", ie)
			continue
		}
		rest = append(rest, e)
	}
	return errors.Join(rest...)
}
