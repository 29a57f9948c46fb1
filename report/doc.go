// Package report renders a scan result: table, JSON, SARIF, CycloneDX with
// vulnerabilities, OpenVEX, Markdown, JUnit XML and GitLab's dependency
// scanning report, one file per format.
package report
