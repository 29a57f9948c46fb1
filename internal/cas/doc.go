// Package cas is customs' on-disk content-addressed cache: blobs named by
// their sha256 and derived entries that carry their own checksum, both
// written atomically and verified when read.
package cas
