// Package bench measures customs against its peers (syft, and later
// osv-scanner), side by side in one run, on the same inputs. Benchmarks
// print numbers and ratios; nothing here asserts on time.
//
//	go test ./bench -run XXX -bench . -benchtime 3x
//
// Peers are found as $SYFT (or syft on PATH); see README.md here for how to
// build them.
package bench
