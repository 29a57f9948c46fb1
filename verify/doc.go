// Package verify checks Sigstore signatures on artifacts: bundles with keys
// or keyless identities, against a trusted root, with the freshness a
// policy asks for.
package verify
