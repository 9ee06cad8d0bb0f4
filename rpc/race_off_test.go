//go:build !race

package rpc_test

// raceEnabled reports whether the tests run under the race detector, which
// slows the largest of them tenfold; they shrink their sizes, not their shape.
const raceEnabled = false
