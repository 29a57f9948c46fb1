package osvdb

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/customs-dev/customs/internal/testimage"
)

var headCases = []string{
	`{"id":"GO-1","modified":"2024-01-02T03:04:05Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.3"}]}]}]}`,
	`{"ID":"A","Modified":"2024-01-02T03:04:05.5+02:00","AFFECTED":[{"Package":{"ECOSYSTEM":"PyPI","Name":"x"}},{"package":{}},{}]}`,
	`{"id":"A","id":"B","affected":[]}`,
	`{"affected":[{"package":{"name":"a"},"package":{"ecosystem":"npm"}}]}`,
	`{"id":"A","affected":[{"package":{"name":"a"}}],"affected":[{"package":{"ecosystem":"npm"}}]}`,
	`{"id":"caf\u00e9"}`,
	`{"id":"café"}`,
	`{"i\u0064":"A"}`,
	`{"id":null,"affected":null}`,
	`{"id":5}`,
	`{"modified":"yesterday"}`,
	`{"id":"A"} x`,
	`{"id":"A",}`,
	`{"details":"a\tb"}`,
	`{"details":"\ud83d\ude00 \\ \" \/ \b\f\n\r\t","n":[-0.5e+10,0,1E3,true,false,null,{}]}`,
	`{"n":01}`,
	`{"n":-}`,
	`{"n":1.}`,
	`[{"id":"A"}]`,
	`{"database_specific":{"id":"NOT-THE-ID","affected":[1]}}`,
	"{\"id\":\"A\"}\n",
	` {"id":"A"} `,
	`{"id":"A"`,
	``,
	`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
}

// checkHead fails if parseHead accepts a record json.Unmarshal would read
// otherwise, or invalid JSON.
func checkHead(t *testing.T, b []byte) bool {
	t.Helper()
	var fast, slow recordHead
	ok := parseHead(b, &fast)
	err := json.Unmarshal(b, &slow)
	if ok && err != nil {
		t.Fatalf("parseHead accepts what json.Unmarshal refuses (%v): %.200q", err, b)
	}
	if !json.Valid(b) && ok {
		t.Fatalf("parseHead accepts invalid JSON: %.200q", b)
	}
	if ok {
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("parseHead reads %.200q otherwise than json.Unmarshal (-json +parseHead):\n%s", b, diff)
		}
	}
	return ok
}

// TestParseHead: the fast reading of a record's head is json.Unmarshal's,
// or it gives up; on the shared OSV data it gives up on almost nothing.
func TestParseHead(t *testing.T) {
	for _, c := range headCases {
		checkHead(t, []byte(c))
	}
	onSharedRecords(t, "parseHead", func(b []byte) bool { return checkHead(t, b) })
}

// onSharedRecords hands every shared Go and PyPI record to read, and fails
// unless it reads (does not give up on) nine in ten of them.
func onSharedRecords(t *testing.T, reader string, read func([]byte) bool) {
	t.Helper()
	for _, eco := range []string{"Go", "PyPI"} {
		p := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv", eco, "all.zip")
		zr, err := zip.OpenReader(p)
		if err != nil {
			t.Logf("skipping the shared %s records: %v", eco, err)
			continue
		}
		fast := 0
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if read(b) {
				fast++
			}
		}
		zr.Close()
		t.Logf("%s: %s read %d of %d records", eco, reader, fast, len(zr.File))
		if fast < len(zr.File)*9/10 {
			t.Errorf("%s: %s read only %d of %d records", eco, reader, fast, len(zr.File))
		}
	}
}

func FuzzParseHead(f *testing.F) {
	for _, c := range headCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkHead(t, b) })
}

// TestIndexFromDiskOrMemory: a zip indexed from memory and one indexed by
// reads at offsets (as zips over inMemoryZip are) give the same index.
func TestIndexFromDiskOrMemory(t *testing.T) {
	src := filepath.Join(testimage.Root(), "..", "shared", "testdata", "osv", "Go", "all.zip")
	mem, data, err := buildIndex(src, DefaultMaxRecordSize)
	if err != nil {
		t.Skipf("skipping: shared OSV data absent: %v", err)
	}
	if data == nil {
		t.Error("a small zip was not kept in memory")
	}
	defer func(n int64) { inMemoryZip = n }(inMemoryZip)
	inMemoryZip = 0
	disk, data, err := buildIndex(src, DefaultMaxRecordSize)
	if err != nil {
		t.Fatal(err)
	}
	if data != nil {
		t.Error("a zip over the bound was kept in memory")
	}
	disk.Built, mem.Built = time.Time{}, time.Time{}
	if diff := cmp.Diff(mem, disk, cmp.AllowUnexported(index{})); diff != "" {
		t.Errorf("the indexes differ (-memory +disk):\n%s", diff)
	}
	if mem.Records != 4291 {
		t.Errorf("indexed %d records, want 4291", mem.Records)
	}
}

// TestReadMemberChecksSize: a member whose data is shorter or longer than
// the directory says, or whose CRC is wrong, is an error, not a record.
func TestReadMemberChecksSize(t *testing.T) {
	record := []byte(`{"id":"GO-1"}`)
	for _, tc := range []struct {
		name   string
		size   uint64
		crc    uint32
		wantOK bool
	}{
		{"right", uint64(len(record)), crc32.ChecksumIEEE(record), true},
		{"shorter than said", uint64(len(record)) + 5, crc32.ChecksumIEEE(record), false},
		{"longer than said", uint64(len(record)) - 5, crc32.ChecksumIEEE(record), false},
		{"wrong CRC", uint64(len(record)), 1, false},
	} {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "r.json", Method: zip.Store, CRC32: tc.crc, CompressedSize64: uint64(len(record)), UncompressedSize64: tc.size})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(record)
		zw.Close()
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		at, err := memberOf(zr.File[0])
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := readAt(bytes.NewReader(buf.Bytes()), at, DefaultMaxRecordSize, nil)
		if ok := err == nil && bytes.Equal(b, record); ok != tc.wantOK {
			t.Errorf("%s: read %q, %v; want a record: %v", tc.name, b, err, tc.wantOK)
		}
	}
}
