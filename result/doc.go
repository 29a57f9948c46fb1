// Package result is the schema of customs' JSON report: a scan's Result
// and a diff's Comparison, with the policy entries (ignores, VEX
// statements) that a report records. It holds types and their reading
// only: the scan package makes results, the report package renders them
// and the admission server decides on them, none of them depending on
// another for the schema.
package result
