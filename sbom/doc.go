// Package sbom turns a pulled artifact into a software bill of materials
// with syft, and encodes and decodes SBOMs in the standard formats.
package sbom
