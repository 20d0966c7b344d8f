// Package gctune owns the garbage collector setting the server runs with when its environment
// chooses none.
package gctune

import "runtime/debug"

// ServerPercent is the server's GOGC when the environment sets none: a collection when the heap
// has grown by four times what was live after the last one, where Go's default waits for it to
// double. The server keeps little live (some megabytes) and allocates its answers afresh, so at
// Go's default it collected some fifty times a second under load and spent a fifth of its CPU
// there; at this setting the heap peaks at about five times the live data instead of two (tens of
// megabytes). GOGC (and GOMEMLIMIT, for a ceiling) in the environment override it, as for any Go
// program. Measured in docs/performance.md ("Render API load").
const ServerPercent = 400

// Apply sets the collector to ServerPercent unless getenv("GOGC") names a setting, which the Go
// runtime has then applied already. It returns the setting it replaced, to restore it with
// debug.SetGCPercent, and whether it changed anything.
func Apply(getenv func(string) string) (previous int, applied bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return debug.SetGCPercent(ServerPercent), true
}
