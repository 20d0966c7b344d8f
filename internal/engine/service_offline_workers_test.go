package engine_test

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestOfflineWorkers: a worker is shown offline once it has not heartbeaten for OfflineAfter.
func TestOfflineWorkers(t *testing.T) {
	forEachClocked(t, engine.Config{OfflineAfter: 2 * time.Minute}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		w, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"c"}})
		must(t, err)
		for _, step := range []struct {
			advance time.Duration
			offline bool
		}{
			{advance: 0, offline: false},
			{advance: 119 * time.Second, offline: false},
			{advance: 2 * time.Second, offline: true},
		} {
			c.clk.Advance(step.advance)
			must(t, c.e.RunService(ctx, "offline-workers"))
			got, err := c.st.GetWorker(ctx, w.ID)
			must(t, err)
			if (got.Status == store.WorkerOffline) != step.offline {
				t.Fatalf("%v after its last heartbeat: status %s, want offline %v", c.clk.Now().Sub(t0), got.Status, step.offline)
			}
		}
	})
}
