package main

import (
	"fmt"
	"strings"
)

// parseAnnotations reads the KEY=VALUE annotations of -a/--annotations,
// as cosign's -a takes them: split at the first "=".
func parseAnnotations(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError{err: fmt.Errorf("--annotations %q: want KEY=VALUE", kv)}
		}
		if w, dup := out[k]; dup && w != v {
			return nil, usageError{err: fmt.Errorf("--annotations: %s is given twice, as %q and %q", k, w, v)}
		}
		out[k] = v
	}
	return out, nil
}
