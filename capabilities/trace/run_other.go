//go:build !linux || !amd64

package trace

import "context"

// Run needs Linux on amd64.
func Run(ctx context.Context, opts Options) (*Profile, error) {
	return nil, ErrUnavailable
}
