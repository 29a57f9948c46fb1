// Package scan runs a whole scan of one target (pull, SBOM, vulnerability
// matching) and holds the result against the policy: the single entry
// point that the CLI, CI and admission front ends call.
package scan
