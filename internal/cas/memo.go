package cas

import "encoding/json"

// Memo returns the value stored under kind and key, or computes it and
// stores it, as JSON. A nil store or an empty key computes and stores
// nothing; an entry that does not decode is computed again and replaced.
// A failed store is not an error: the value is still good.
func Memo[T any](s *Store, kind, key string, compute func() (T, error)) (T, error) {
	return MemoWith(s, kind, key, func(v T) ([]byte, error) { return json.Marshal(v) }, func(b []byte) (T, error) {
		var v T
		err := json.Unmarshal(b, &v)
		return v, err
	}, compute)
}

// MemoWith is Memo with the entry's encoding given: encode writes a value,
// decode reads one back.
func MemoWith[T any](s *Store, kind, key string, encode func(T) ([]byte, error), decode func([]byte) (T, error), compute func() (T, error)) (T, error) {
	if s == nil || key == "" {
		return compute()
	}
	if v, ok := lookup(s, kind, key, decode); ok {
		return v, nil
	}
	v, err := compute()
	if err != nil {
		return v, err
	}
	if b, err := encode(v); err == nil {
		s.Put(kind, key, b)
	}
	return v, nil
}

// Lookup returns the value Memo stored under kind and key, if there is one
// that decodes: for a caller that does less work when it will not compute.
func Lookup[T any](s *Store, kind, key string) (T, bool) {
	return lookup(s, kind, key, func(b []byte) (T, error) {
		var v T
		err := json.Unmarshal(b, &v)
		return v, err
	})
}

func lookup[T any](s *Store, kind, key string, decode func([]byte) (T, error)) (T, bool) {
	var zero T
	if s == nil || key == "" {
		return zero, false
	}
	b, err := s.Get(kind, key)
	if err != nil {
		return zero, false
	}
	v, err := decode(b)
	if err != nil {
		return zero, false
	}
	return v, true
}

// Keep stores a value as Memo stores what it computes, replacing what the
// entry held: for a value computed elsewhere that a later Memo or Lookup
// reads. A nil store or an empty key keeps nothing.
func Keep[T any](s *Store, kind, key string, v T) {
	if s == nil || key == "" {
		return
	}
	if b, err := json.Marshal(v); err == nil {
		s.Put(kind, key, b)
	}
}
