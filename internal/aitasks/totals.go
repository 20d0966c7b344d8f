package aitasks

import (
	"sync"
	"time"
)

// totals remembers the total of each list filter. Counting a million rows costs far more than
// reading a page of them, so a total is reused for TotalsTTL, or for twenty times as long as it took
// to count when that is longer, and once it is old one request counts again while the others keep
// answering the old total (no stampede of identical counts).
type totals struct {
	ttl  time.Duration
	max  int
	mu   sync.Mutex
	byID map[string]*total
}

type total struct {
	n          int
	fresh      time.Time // reused without counting until then
	refreshing bool
}

func newTotals(ttl time.Duration, max int) *totals {
	return &totals{ttl: ttl, max: max, byID: map[string]*total{}}
}

// get returns the total to answer without counting, if there is one; count is true when the caller
// must count (and then put the result).
func (t *totals) get(key string, now time.Time) (n int, known, count bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byID[key]
	switch {
	case e == nil:
		return 0, false, true
	case now.Before(e.fresh) || e.refreshing:
		return e.n, true, false
	default:
		e.refreshing = true
		return e.n, true, true
	}
}

// put records a total counted at start, which took took to count.
func (t *totals) put(key string, n int, start time.Time, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byID) >= t.max {
		for k := range t.byID { // drop one at random: the map is bounded, not ordered
			delete(t.byID, k)
			break
		}
	}
	t.byID[key] = &total{n: n, fresh: start.Add(max(t.ttl, 20*took))}
}

// abandon ends a refresh that failed.
func (t *totals) abandon(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byID[key]; e != nil {
		e.refreshing = false
	}
}
