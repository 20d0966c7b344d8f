package testutil_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/testutil"
)

// fakeT records a failure and stops the goroutine as testing.T does.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Eventually as a test body would, on a goroutine of its own so that Fatalf can end it.
func run(within time.Duration, check func() error) (failed string) {
	f := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testutil.Eventually(f, within, check)
	}()
	<-done
	return f.failed
}

func TestEventually(t *testing.T) {
	tests := []struct {
		name       string
		passAt     int // the check passing from its passAt-th call on; 0: never
		within     time.Duration
		wantCalls  int // at least
		wantFailed string
	}{
		{name: "at once", passAt: 1, within: time.Second, wantCalls: 1},
		{name: "after a few checks", passAt: 4, within: 10 * time.Second, wantCalls: 4},
		{name: "never", within: 30 * time.Millisecond, wantCalls: 2, wantFailed: "check 2 of never: still waiting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			failed := run(tc.within, func() error {
				calls++
				if tc.passAt > 0 && calls >= tc.passAt {
					return nil
				}
				return fmt.Errorf("check %d of %s: %w", calls, tc.name, errors.New("still waiting"))
			})
			if calls < tc.wantCalls {
				t.Errorf("%d checks, want at least %d", calls, tc.wantCalls)
			}
			if tc.passAt > 0 && calls != tc.passAt {
				t.Errorf("%d checks, want it to stop at the first success (%d)", calls, tc.passAt)
			}
			switch {
			case tc.wantFailed == "" && failed != "":
				t.Errorf("failed: %s", failed)
			case tc.wantFailed != "" && (!strings.Contains(failed, "still waiting") || !strings.Contains(failed, tc.within.String())):
				t.Errorf("failure %q, want the last error and the time waited", failed)
			}
		})
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := testutil.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("frozen clock reads %v, want %v", got, start)
	}
	if got := c.Advance(90 * time.Second); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("the clock moved by itself: %v", got)
	}

	w := testutil.NewWallClock()
	before := time.Now()
	w.Advance(time.Hour)
	if got := w.Now(); got.Before(before.Add(time.Hour)) || got.After(time.Now().Add(time.Hour)) {
		t.Fatalf("wall clock an hour ahead reads %v (wall %v)", got, time.Now())
	}
}
