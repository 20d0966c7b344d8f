package render

import (
	"sync"
	"time"
)

// readTTL is how long this process serves what it read of shared state that every task query
// consults (the catalog, which software no worker offers) before reading it again: an edit made
// through another replica shows here within this time.
const readTTL = time.Second

// recentValue is a value read from the store, served for readTTL. Callers only read the value, so
// one copy is shared.
type recentValue[T any] struct {
	mu   sync.Mutex
	v    T
	read time.Time // zero: nothing read yet, or dropped
}

// get returns the value read within readTTL of now (a clock that went back counts as stale).
func (r *recentValue[T]) get(now time.Time) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.read.IsZero() || now.Sub(r.read) >= readTTL || now.Before(r.read) {
		var zero T
		return zero, false
	}
	return r.v, true
}

func (r *recentValue[T]) set(v T, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.v, r.read = v, now
}

// drop makes the next get read again: this process changed what the value was read from.
func (r *recentValue[T]) drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read = time.Time{}
}
