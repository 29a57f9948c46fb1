// Package admission is the admission server: one HTTPS server that answers
// Kubernetes AdmissionReview v1 requests (POST /validate, and /mutate,
// which pins the images the trust policy covers to the digests their tags
// resolve to) and the JSON check API for registries and CI (POST
// /v1/check), with /healthz, /readyz and /metrics.
//
// Every image is decided (Server.Decide) by resolving its tag to a digest
// and running scan on that digest with the rule of the server's Policy (a
// trust policy extended with scan rules per image pattern and namespace)
// that matches it. A Decision is cached by the whole question it answers
// (repository, digest, trust-policy entry, rule, policy hash, database
// revision): in memory, then in a Store, on disk (bbolt) or in Redis for
// several replicas. When no decision can be made within the budget, the
// image is denied unless the rule's failure policy is open.
package admission
