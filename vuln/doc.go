// Package vuln is the OSV vulnerability database (osv-scanner's offline
// layout or a directory of OSV JSON records, indexed by package) and the
// matching of SBOM packages against it, as osv-scanner does it.
package vuln
