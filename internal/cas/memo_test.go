package cas

import (
	"errors"
	"testing"
)

func TestMemo(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	type value struct{ N int }
	calls := 0
	compute := func() (value, error) { calls++; return value{N: calls}, nil }
	for range 2 {
		v, err := Memo(s, "memo", "k", compute)
		if err != nil || v.N != 1 {
			t.Fatalf("Memo = %+v, %v; want the first computation, stored", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("computed %d times, want once", calls)
	}
	// An entry that does not decode is computed again and replaced.
	if err := s.Put("memo", "k", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if v, _ := Memo(s, "memo", "k", compute); v.N != 2 {
		t.Errorf("undecodable entry: got %+v, want a new computation", v)
	}
	if v, _ := Memo(s, "memo", "k", compute); v.N != 2 {
		t.Errorf("after replacing: got %+v, want the stored value", v)
	}
	// Errors are not stored; no store or no key stores nothing.
	boom := errors.New("boom")
	if _, err := Memo(s, "memo", "e", func() (value, error) { return value{}, boom }); err != boom {
		t.Errorf("error = %v, want %v", err, boom)
	}
	if _, err := s.Get("memo", "e"); err == nil {
		t.Errorf("a failed computation was stored")
	}
	for _, tc := range []struct {
		s   *Store
		key string
	}{{nil, "k"}, {s, ""}} {
		before := calls
		Memo(tc.s, "memo", tc.key, compute)
		Memo(tc.s, "memo", tc.key, compute)
		if calls != before+2 {
			t.Errorf("store %v key %q: computed %d times, want 2", tc.s != nil, tc.key, calls-before)
		}
	}
	// Keep replaces what an entry held.
	Keep(s, "memo", "k", value{N: 7})
	if v, _ := Memo(s, "memo", "k", compute); v.N != 7 {
		t.Errorf("after Keep: got %+v, want the kept value", v)
	}
	Keep(nil, "memo", "k", value{N: 8})
	Keep(s, "memo", "", value{N: 8})
}
