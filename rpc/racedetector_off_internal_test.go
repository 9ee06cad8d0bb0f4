//go:build !race

package rpc

// raceDetector reports whether the internal tests run under the race
// detector, which drops pooled values at random.
const raceDetector = false
