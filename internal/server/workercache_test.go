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
		c.putToken(fmt.Sprintf("tok-%d", i), int64(i), t0)
		c.put(store.Worker{ID: int64(i)}, t0)
	}
	if id, ok := c.token("tok-7", t0.Add(workerCacheTTL-time.Second)); !ok || id != 7 {
		t.Fatalf("fresh token: %d %v", id, ok)
	}
	if w, ok := c.worker(7, t0.Add(workerCacheTTL-time.Second)); !ok || w.ID != 7 {
		t.Fatalf("fresh worker: %+v %v", w, ok)
	}
	later := t0.Add(workerCacheTTL)
	if _, ok := c.token("tok-7", later); ok {
		t.Fatal("an expired token is still trusted")
	}
	if _, ok := c.worker(7, later); ok {
		t.Fatal("an expired worker record is still served")
	}
	// One put after the TTL drops every expired entry, so agents that come and go leave nothing behind.
	c.putToken("new", 1, later)
	c.put(store.Worker{ID: 5000}, later)
	if tokens, workers := c.size(); tokens != 1 || workers != 1 {
		t.Fatalf("after prune: %d tokens, %d workers; want 1 and 1", tokens, workers)
	}
}
