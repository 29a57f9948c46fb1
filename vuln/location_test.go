package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReadByLocation: with an installed index, a scan reads its records
// where the index says they are, stored or deflated, and checks them as
// archive/zip would: a wrong place is a checksum warning, never a record.
func TestReadByLocation(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range []struct {
		name, pkg string
		method    uint16
	}{{"GO-1.json", "example.com/a", zip.Deflate}, {"GO-2.json", "example.com/b", zip.Store}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: r.method})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, `{"id":%q,"affected":[{"package":{"ecosystem":"Go","name":%q},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`, strings.TrimSuffix(r.name, ".json"), r.pkg)
	}
	zw.Close()
	src := filepath.Join(t.TempDir(), "all.zip")
	os.WriteFile(src, buf.Bytes(), 0o644)
	db := t.TempDir()
	if _, err := Install(db, "Go", src); err != nil {
		t.Fatal(err)
	}
	pkgs := []Package{{Name: "example.com/a", Version: "1.0.0", Ecosystem: "Go"}, {Name: "example.com/b", Version: "1.0.0", Ecosystem: "Go"}}
	match := func() *Result {
		d, err := Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Match(context.Background(), pkgs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := match(); len(res.Findings) != 2 || len(res.Warnings) != 0 {
		t.Fatalf("Match = %d findings, warnings %q; want 2 and none", len(res.Findings), res.Warnings)
	}

	// Move GO-1's place by a byte, in an index that still holds together.
	misplace(t, filepath.Join(db, "Go", "all.zip.index"), "GO-1.json")
	res := match()
	if len(res.Findings) != 1 || res.Findings[0].ID != "GO-2" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "GO-1.json") {
		t.Errorf("with GO-1 misplaced: %d findings, warnings %q; want GO-2 alone and a warning naming GO-1.json", len(res.Findings), res.Warnings)
	}
}

// misplace moves a member's place by a byte in the index stored beside a
// zip, and mends the index's checksum so that it still holds together. It
// edits the file as the format is written down (see osvdb's storedIndex):
// a line of JSON, then tables whose CRC-32 the JSON carries.
func misplace(t *testing.T, index, member string) {
	t.Helper()
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		t.Fatal("the installed index does not decode")
	}
	at := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(member) + `\t(\d+)\t`)
	m := at.FindSubmatchIndex(rest)
	if m == nil {
		t.Fatalf("the installed index does not say where %s is", member)
	}
	off, _ := strconv.ParseInt(string(rest[m[2]:m[3]]), 10, 64)
	rest = append(append(append([]byte(nil), rest[:m[2]]...), fmt.Sprint(off+1)...), rest[m[3]:]...)
	crc := regexp.MustCompile(`"table_crc32":\d+`)
	if !crc.Match(head) {
		t.Fatal("the installed index has no table_crc32")
	}
	head = crc.ReplaceAll(head, fmt.Appendf(nil, `"table_crc32":%d`, crc32.ChecksumIEEE(rest)))
	if err := os.WriteFile(index, append(append(head, '\n'), rest...), 0o644); err != nil {
		t.Fatal(err)
	}
}
