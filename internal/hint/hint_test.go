package hint

import (
	"errors"
	"fmt"
	"testing"
)

type limit struct{}

func (limit) Error() string                  { return "over the limit (" + Text(limit{}, Plain) + ")" }
func (limit) Hint() (setting, advice string) { return "max-layers", "raise it with %s" }

func TestWord(t *testing.T) {
	flag := func(s string) string { return "--" + s }
	key := func(s string) string { return s + ":" }
	wrapped := fmt.Errorf("pulling: %w", New(errors.New("refusing plain HTTP to h:5000"), "insecure-registry", "pass %s h:5000 if it has no TLS"))
	for _, tc := range []struct {
		err             error
		plain, cli, key string
	}{
		{wrapped,
			"pulling: refusing plain HTTP to h:5000 (pass insecure-registry h:5000 if it has no TLS)",
			"pulling: refusing plain HTTP to h:5000 (pass --insecure-registry h:5000 if it has no TLS)",
			"pulling: refusing plain HTTP to h:5000 (pass insecure-registry: h:5000 if it has no TLS)"},
		{errors.Join(limit{}, fmt.Errorf("layer x: %w", limit{}), errors.New("and no hint")),
			"over the limit (raise it with max-layers)\nlayer x: over the limit (raise it with max-layers)\nand no hint",
			"over the limit (raise it with --max-layers)\nlayer x: over the limit (raise it with --max-layers)\nand no hint",
			"over the limit (raise it with max-layers:)\nlayer x: over the limit (raise it with max-layers:)\nand no hint"},
		{errors.New("no hint (raise it with max-layers)"), "no hint (raise it with max-layers)", "no hint (raise it with max-layers)", "no hint (raise it with max-layers)"},
	} {
		if got := tc.err.Error(); got != tc.plain {
			t.Errorf("Error() = %q, want %q", got, tc.plain)
		}
		if got := Word(tc.err, flag); got != tc.cli {
			t.Errorf("Word(flag) = %q, want %q", got, tc.cli)
		}
		if got := Word(tc.err, key); got != tc.key {
			t.Errorf("Word(key) = %q, want %q", got, tc.key)
		}
	}
	if !Is(wrapped, "insecure-registry") || Is(wrapped, "max-layers") {
		t.Errorf("Is: wrong settings found in %v", wrapped)
	}
	if Word(nil, flag) != "" {
		t.Errorf("Word(nil) is not empty")
	}
}
