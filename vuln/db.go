package vuln

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/customs-dev/customs/internal/hint"
	"github.com/customs-dev/customs/vuln/osvdb"
)

// DB is an opened OSV database: the store (osvdb), which Match reads.
type DB struct {
	*osvdb.DB
}

// Options configure Open.
type Options = osvdb.Options

// Open opens the database in dir: osv-scanner's offline layout
// (DIR/<Ecosystem>/all.zip, also under DIR/osv-scanner/ or
// DIR/osv-scalibr/) or a directory of OSV JSON records.
func Open(dir string, opts Options) (*DB, error) {
	s, err := osvdb.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return &DB{s}, nil
}

// MissingEcosystemError reports ecosystems that the SBOM has packages of
// but the database lacks: those packages were not matched.
type MissingEcosystemError struct {
	Dir string
	// Ecosystems are the base ecosystems ("Debian"), sorted; Packages
	// counts the packages of each.
	Ecosystems []string
	Packages   map[string]int
}

func (e *MissingEcosystemError) Error() string {
	return fmt.Sprintf("the OSV database in %s has no data for %s: %s", e.Dir, strings.Join(e.Ecosystems, ", "), hint.Text(e, hint.Plain))
}

// Hint implements hint.Hinted: the command that adds the data, with the
// setting that names each ecosystem.
func (e *MissingEcosystemError) Hint() (setting, advice string) {
	return "ecosystem", "run `customs db update %s " + strings.Join(e.Ecosystems, " %s ") + "`, or `customs db import` an all.zip from osv-vulnerabilities"
}

// The database's upkeep is the store's; these names keep the callers of
// vuln (the CLI's db command, scan, admission) as they were.

// ErrNoDatabase reports a database directory that holds no OSV data.
var ErrNoDatabase = osvdb.ErrNoDatabase

// DefaultMaxRecordSize bounds one OSV record unless Options say otherwise.
const DefaultMaxRecordSize = osvdb.DefaultMaxRecordSize

// DefaultBaseURL serves each ecosystem's all.zip, as osv-scanner fetches it.
const DefaultBaseURL = osvdb.DefaultBaseURL

// DefaultEcosystems are updated when the database has none yet.
var DefaultEcosystems = osvdb.DefaultEcosystems

type (
	// Status describes one ecosystem of a database.
	Status = osvdb.Status
	// IndexError reports a zip that was installed without its index.
	IndexError = osvdb.IndexError
	// EcosystemsError reports a zip whose records name other than one
	// ecosystem.
	EcosystemsError = osvdb.EcosystemsError
)

// Install is osvdb.Install: it checks an all.zip and swaps it in as
// dbDir/<ecosystem>/all.zip, with its index beside it.
func Install(dbDir, ecosystem, zipPath string) (int, error) {
	return osvdb.Install(dbDir, ecosystem, zipPath)
}

// Import is osvdb.Import: it installs an all.zip under the ecosystem its
// records name.
func Import(dbDir, zipPath string) (string, int, error) {
	return osvdb.Import(dbDir, zipPath)
}

// Update is osvdb.Update: it downloads each ecosystem's all.zip from
// baseURL and installs it.
func Update(ctx context.Context, dbDir string, ecosystems []string, baseURL string, client *http.Client, progress func(eco string, n int64)) (map[string]int, error) {
	return osvdb.Update(ctx, dbDir, ecosystems, baseURL, client, progress)
}
