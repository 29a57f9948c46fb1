// Package vuln matches SBOM packages against the OSV database (the store
// is vuln/osvdb), as osv-scanner does, and rates the findings' severities.
package vuln
