// Package pull resolves a target (an image reference, an image archive or
// layout, a Go module version, a directory or an SBOM file) to a local,
// verified artifact, keeping what it fetched in a content-addressed cache.
package pull
