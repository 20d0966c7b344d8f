package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing delays, capped, with jitter so that many agents reconnecting
// to a restarted server do not arrive in lockstep. Not safe for concurrent use: one per loop.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.n++
	// Equal jitter: between half and the full delay, so the delay still grows.
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx is done; it reports whether the full delay passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
