package aitasks

import (
	"testing"
	"time"
)

// TestTotals: a total is reused while fresh, then exactly one caller counts again while the others
// answer the old total; a slow count is reused for longer.
func TestTotals(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tt := newTotals(2*time.Second, 2)
	steps := []struct {
		name              string
		at                time.Duration
		put               int // > 0: the caller counted this
		took              time.Duration
		wantN             int
		wantKnown, wantCt bool
	}{
		{"first caller counts", 0, 0, 0, 0, false, true},
		{"counted", 0, 10, time.Millisecond, 0, false, false},
		{"fresh", time.Second, 0, 0, 10, true, false},
		{"stale: one counts", 3 * time.Second, 0, 0, 10, true, true},
		{"others keep the old total", 3 * time.Second, 0, 0, 10, true, false},
		{"slow count", 3 * time.Second, 11, time.Second, 0, false, false},
		{"reused 20 times as long", 20 * time.Second, 0, 0, 11, true, false},
		{"then stale", 24 * time.Second, 0, 0, 11, true, true},
	}
	for _, s := range steps {
		if s.put > 0 {
			tt.put("k", s.put, t0.Add(s.at), s.took)
			continue
		}
		n, known, count := tt.get("k", t0.Add(s.at))
		if s.name == "counted" {
			continue
		}
		if n != s.wantN || known != s.wantKnown || count != s.wantCt {
			t.Fatalf("%s: got %d %v %v", s.name, n, known, count)
		}
		if s.name == "first caller counts" {
			tt.put("k", 10, t0, time.Millisecond)
		}
	}
	tt.put("a", 1, t0, 0)
	tt.put("b", 1, t0, 0)
	if len(tt.byID) > 2 {
		t.Fatalf("%d totals kept, bound 2", len(tt.byID))
	}
}
