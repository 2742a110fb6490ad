//go:build race

package server_test

// raceEnabled: the race detector is on; it multiplies what goroutines and
// heap objects take (Go's documentation: memory use 5–10×).
const raceEnabled = true
