package server

import (
	"fmt"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func TestWorkerCacheExpiresAndPrunes(t *testing.T) {
	c := newWorkerCache()
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		c.putToken(fmt.Sprintf("tok-%d", i), int64(i), 1, t0)
		c.put(store.Worker{ID: int64(i)}, t0)
	}
	if id, inc, ok := c.token("tok-7", t0.Add(workerCacheTTL-time.Second)); !ok || id != 7 || inc != 1 {
		t.Fatalf("fresh token: %d %d %v", id, inc, ok)
	}
	if w, ok := c.worker(7, t0.Add(workerCacheTTL-time.Second)); !ok || w.ID != 7 {
		t.Fatalf("fresh worker: %+v %v", w, ok)
	}
	later := t0.Add(workerCacheTTL)
	if _, _, ok := c.token("tok-7", later); ok {
		t.Fatal("an expired token is still trusted")
	}
	if _, ok := c.worker(7, later); ok {
		t.Fatal("an expired worker record is still served")
	}
	// One put after the TTL drops every expired entry, so agents that come and go leave nothing behind.
	c.putToken("new", 1, 1, later)
	c.put(store.Worker{ID: 5000}, later)
	if tokens, workers := c.size(); tokens != 1 || workers != 1 {
		t.Fatalf("after prune: %d tokens, %d workers; want 1 and 1", tokens, workers)
	}
}

func TestWorkerCacheKeepsTheNewestIncarnation(t *testing.T) {
	c := newWorkerCache()
	t0 := time.Unix(1_700_000_000, 0)
	c.put(store.Worker{ID: 1, Incarnation: 2}, t0)
	c.put(store.Worker{ID: 1, Incarnation: 1}, t0) // a read that began before the registration
	if w, _ := c.worker(1, t0); w.Incarnation != 2 {
		t.Fatalf("cached incarnation %d, want 2", w.Incarnation)
	}
}
