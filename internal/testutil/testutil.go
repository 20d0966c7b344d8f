// Package testutil holds what tests across the module share: a clock a test moves by hand, a
// wait for something that comes true on its own, a background program started again whenever it
// exits (a media source on loopback), and files made older by hand.
package testutil

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Eventually calls check until it returns nil, and fails t with check's last error when that has not
// happened within the given time. Checks start 5 ms apart and back off to 50 ms. check runs on the
// calling goroutine, so it may call t.Fatal itself for an error that waiting will not cure.
func Eventually(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := 5 * time.Millisecond
	for n := 1; ; n++ {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not so after %v (%d checks): %v", within, n, err)
			return
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Clock is a clock a test moves on by hand (engine.Config.Now takes its Now). It is safe for
// concurrent use.
type Clock struct {
	mu     sync.Mutex
	start  time.Time // the frozen reading; zero when the clock follows the wall clock
	offset time.Duration
}

// NewClock returns a clock standing at start, that moves only when told to.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		panic("testutil: a frozen clock needs a start time")
	}
	return &Clock{start: start}
}

// NewWallClock returns a clock that follows the wall clock, ahead of it by what Advance added: for
// tests whose code also waits on real time (retry delays, long-polls) but must skip a time limit.
func NewWallClock() *Clock { return &Clock{} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() {
		return time.Now().Add(c.offset)
	}
	return c.start.Add(c.offset)
}

// Advance moves the clock on by d and returns the new reading.
func (c *Clock) Advance(d time.Duration) time.Time {
	if d < 0 {
		panic(fmt.Sprintf("testutil: a clock does not go back (%v)", d))
	}
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
	return c.Now()
}
