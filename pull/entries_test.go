package pull

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
)

// formatTar writes entries in a tar format, with long names (PAX or GNU
// records) and every kind of entry.
func formatTar(t testing.TB, format tar.Format, n int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	long := 200
	if format == tar.FormatUSTAR {
		long = 40 // longer names need PAX or GNU records
	}
	for i := 0; i < n; i++ {
		name := strings.Repeat("d/", i%3) + "f" + strings.Repeat("x", (i*37)%long)
		h := &tar.Header{Name: name, Mode: 0o644, Format: format}
		switch i % 5 {
		case 0, 1:
			h.Typeflag, h.Size = tar.TypeReg, int64(i*131%3000)
		case 2:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case 3:
			h.Typeflag, h.Linkname = tar.TypeSymlink, strings.Repeat("l", i%(long-30))
		case 4:
			h.Typeflag, h.Linkname = tar.TypeLink, "f"
		}
		if format == tar.FormatPAX && i%7 == 0 {
			h.PAXRecords = map[string]string{"comment": strings.Repeat("c", i)}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(bytes.Repeat([]byte{'a'}, int(h.Size)))
	}
	tw.Close()
	return buf.Bytes()
}

// chunks reads r in reads of random sizes.
type chunks struct {
	r   io.Reader
	rng *rand.Rand
}

func (c chunks) Read(b []byte) (int, error) {
	return c.r.Read(b[:min(len(b), 1+c.rng.Intn(700))])
}

// TestEntryLimitCounts counts what archive/tar counts, in every format and
// however the stream is cut.
func TestEntryLimitCounts(t *testing.T) {
	for _, format := range []tar.Format{tar.FormatUSTAR, tar.FormatPAX, tar.FormatGNU} {
		b := formatTar(t, format, 200)
		want := 0
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			if _, err := tr.Next(); err != nil {
				break
			}
			want++
		}
		var files atomic.Int64
		lim := DefaultLimits()
		r := newEntryLimit(chunks{bytes.NewReader(b), rand.New(rand.NewSource(int64(format)))}, "l", &files, lim)
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		if files.Load() != int64(want) {
			t.Errorf("%v: counted %d entries, archive/tar %d", format, files.Load(), want)
		}
	}
}

func TestEntryLimits(t *testing.T) {
	b := formatTar(t, tar.FormatPAX, 50)
	for _, tc := range []struct {
		lim  Limits
		flag string
	}{
		{Limits{MaxFiles: 10, MaxFileSize: 1 << 30}, "max-files"},
		{Limits{MaxFiles: 1000, MaxFileSize: 1000}, "max-file-size"},
	} {
		var files atomic.Int64
		_, err := io.Copy(io.Discard, newEntryLimit(bytes.NewReader(b), "sha256:x", &files, tc.lim))
		var le *LimitError
		if !errors.As(err, &le) || le.Setting != tc.flag || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%+v: err = %v, want a limit error naming %s", tc.lim, err, tc.flag)
		}
	}
	// A PAX size record is the size that counts.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "big", Size: 5000, Mode: 0o644, Format: tar.FormatPAX, PAXRecords: map[string]string{"comment": "x"}})
	tw.Write(make([]byte, 5000))
	tw.Close()
	var files atomic.Int64
	if _, err := io.Copy(io.Discard, newEntryLimit(&buf, "l", &files, Limits{MaxFiles: 10, MaxFileSize: 4096})); err == nil {
		t.Error("a 5000-byte file passed a 4096-byte limit")
	}
}

// FuzzEntryLimit reads arbitrary streams: no panic, and never more files
// counted than 512-byte blocks.
func FuzzEntryLimit(f *testing.F) {
	f.Add(formatTar(f, tar.FormatPAX, 5))
	f.Add(formatTar(f, tar.FormatGNU, 5))
	f.Fuzz(func(t *testing.T, b []byte) {
		var files atomic.Int64
		io.Copy(io.Discard, newEntryLimit(bytes.NewReader(b), "l", &files, DefaultLimits()))
		if files.Load() > int64(len(b)/512) {
			t.Fatalf("%d files in %d bytes", files.Load(), len(b))
		}
	})
}
