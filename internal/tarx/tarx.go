// Package tarx holds what the project's tar readers share.
package tarx

import (
	"archive/tar"
	"strings"
)

// Sparse says whether a tar entry is a sparse file (GNU's type, or PAX
// records of the GNU sparse formats): its holes read as zeros the stream
// never held, so a hostile archive can claim terabytes of them.
func Sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
