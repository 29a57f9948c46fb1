package osvdb

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
)

var viewCases = append([]string{
	`{"id":"GO-2","withdrawn":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0.0"},{"last_affected":"1.1"}]}]}]}`,
	`{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"lastAffected":"1.1"}]}]}]}`,
	`{"id":"A","affected":[{"ranges":[{"type":"SEMVER","events":[{"last_affected":"1"},{"lastAffected":"2"}]}]}]}`,
	`{"id":"A","affected":[{"ranges":[{"type":"FOO","events":[]}]}]}`,
	`{"id":"A","affected":[{"ranges":[{"type":2,"events":[]}]}]}`,
	`{"id":"A","affected":[{"ranges":[{"type":"GIT","repo":"https://x","events":[{"introduced":"abc"}]}],"versions":["1","2"]}]}`,
	`{"id":"A","affected":[{"package":null}]}`,
	`{"id":"A","affected":[null]}`,
	`{"id":"A","withdrawn":"yesterday"}`,
	`{"id":"A","withdrawn":null}`,
	`{"id":"A","Affected":[{"package":{"name":"m"}}]}`,
	`{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"m"},"ecosystem_specific":{"imports":[{"path":"m","symbols":["F"]}]},"database_specific":{"x":[1,2.5,null,true]}}],"summary":"s","details":"d\n","aliases":["CVE-1"]}`,
	`{"id":"A","affected":[{"versions":["1",null]}]}`,
	`{"id":"A","affected":[{"versions":"1"}]}`,
	`{"id":"A","affected":{}}`,
	`{"id":"A","affected":[{"package":{"name":"a","name":"b"}}]}`,
}, headCases...)

// checkView fails if matchView accepts a record protojson reads otherwise
// (in what matching uses), or invalid JSON.
func checkView(t *testing.T, b []byte) bool {
	t.Helper()
	view, ok := matchView(b)
	full := &osvpb.Vulnerability{}
	err := protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, full)
	if !ok {
		return false
	}
	if !json.Valid(b) {
		t.Fatalf("matchView accepts invalid JSON: %.200q", b)
	}
	if err != nil {
		// Accepted, protojson refusing a field matching does not read:
		// the record is refused, with a warning, if it affects a package.
		return true
	}
	want := &osvpb.Vulnerability{Id: full.GetId(), Withdrawn: full.GetWithdrawn()}
	for _, a := range full.GetAffected() {
		w := &osvpb.Affected{Versions: a.GetVersions()}
		if a.GetPackage() != nil {
			w.Package = &osvpb.Package{Ecosystem: a.GetPackage().GetEcosystem(), Name: a.GetPackage().GetName()}
		}
		for _, r := range a.GetRanges() {
			w.Ranges = append(w.Ranges, &osvpb.Range{Type: r.GetType(), Events: r.GetEvents()})
		}
		want.Affected = append(want.Affected, w)
	}
	if diff := cmp.Diff(want, view, protocmp.Transform()); diff != "" {
		t.Fatalf("matchView reads %.200q otherwise than protojson (-protojson +matchView):\n%s", b, diff)
	}
	return true
}

// TestMatchView: the fast reading of what matching needs of a record is
// protojson's, or it gives up; on the shared OSV data it gives up on
// almost nothing.
func TestMatchView(t *testing.T) {
	for _, c := range viewCases {
		checkView(t, []byte(c))
	}
	onSharedRecords(t, "matchView", func(b []byte) bool { return checkView(t, b) })
}

func FuzzMatchView(f *testing.F) {
	for _, c := range viewCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkView(t, b) })
}
