// Package report renders a scan result: table, JSON, SARIF, CycloneDX with
// vulnerabilities, OpenVEX and Markdown, one file per format.
package report
