// Package osvdb is the store of OSV records on disk: osv-scanner's offline
// layout (one all.zip per ecosystem) or a directory of OSV JSON records,
// indexed by package name so that a scan reads only the records of its
// packages, and installed and updated with that index beside each zip.
package osvdb
