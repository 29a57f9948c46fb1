package vuln

import (
	"archive/zip"
	"context"
	"io"
	"path/filepath"
	"testing"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestWithdrawnRecordsAreNeverReported takes every withdrawn record of the
// shared data, builds a package its ranges do affect, and checks that Match
// leaves the record out.
func TestWithdrawnRecordsAreNeverReported(t *testing.T) {
	dbDir := sharedDB(t)
	db, err := Open(dbDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var withdrawn int
	for _, eco := range []string{"Go", "PyPI"} {
		zr, err := zip.OpenReader(filepath.Join(dbDir, eco, "all.zip"))
		if err != nil {
			t.Fatal(err)
		}
		for _, zf := range zr.File {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			v := &osvpb.Vulnerability{}
			if protojson.Unmarshal(b, v) != nil || v.GetWithdrawn() == nil {
				continue
			}
			withdrawn++
			p, ok := affectedPackage(v)
			if !ok {
				continue
			}
			if !IsAffected(v, p) {
				t.Errorf("%s: built package %+v is not in its ranges; the test proves nothing for it", v.GetId(), p)
				continue
			}
			res, err := db.Match(context.Background(), []Package{p})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range res.Findings {
				for _, id := range f.IDs {
					if id == v.GetId() {
						t.Errorf("withdrawn record %s reported for %s %s", id, p.Name, p.Version)
					}
				}
			}
		}
		zr.Close()
	}
	if withdrawn != 27 {
		t.Errorf("found %d withdrawn records in the shared data, its README says 27", withdrawn)
	}
}

// affectedPackage makes a package version that a record's first affected
// entry covers: a listed version, or an introduced version.
func affectedPackage(v *osvpb.Vulnerability) (Package, bool) {
	for _, a := range v.GetAffected() {
		p := Package{Name: a.GetPackage().GetName(), Ecosystem: a.GetPackage().GetEcosystem()}
		if len(a.GetVersions()) > 0 {
			p.Version = a.GetVersions()[0]
			return p, true
		}
		for _, r := range a.GetRanges() {
			for _, e := range r.GetEvents() {
				if e.GetIntroduced() != "" && e.GetIntroduced() != "0" {
					p.Version = e.GetIntroduced()
					return p, true
				}
				if e.GetIntroduced() == "0" {
					p.Version = "0.0.1"
					return p, true
				}
			}
		}
	}
	return Package{}, false
}
