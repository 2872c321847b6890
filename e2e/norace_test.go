//go:build !race

package e2e

// raceDetector is true when the tests run with -race, which makes the
// gateway several times slower: latency bounds allow for it.
const raceDetector = false
