// Package cimod is a module whose repository has CI, for the tests of
// --include-ci.
package cimod

// Answer is here so that the module has code.
const Answer = 42
