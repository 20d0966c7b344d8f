package engine_test

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/engine"
)

// TestNonces: the service deletes nonces whose window has passed, and keeps those still in it.
func TestNonces(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		fresh, err := c.st.UseNonce(ctx, "test", "n1", t0.Add(time.Minute), t0)
		must(t, err)
		if !fresh {
			t.Fatal("a new nonce was not fresh")
		}
		must(t, c.e.RunService(ctx, "nonces"))
		if fresh, err := c.st.UseNonce(ctx, "test", "n1", t0.Add(time.Minute), t0); err != nil || fresh {
			t.Fatalf("a nonce in its window was purged: fresh %v, %v", fresh, err)
		}
		c.clk.Advance(time.Minute + time.Second)
		must(t, c.e.RunService(ctx, "nonces"))
		left, err := c.st.PurgeNonces(ctx, c.clk.Now())
		must(t, err)
		if left != 0 {
			t.Fatalf("%d expired nonces left after the service ran", left)
		}
	})
}
