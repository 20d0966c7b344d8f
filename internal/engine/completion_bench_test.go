package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// BenchmarkCompletePriced completes priced units in batches of 10: the completion hot path of a
// billed kind (render frames).
func BenchmarkCompletePriced(b *testing.B) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) {
			ctx := context.Background()
			st := d.Open(b)
			e := engine.New(st, engine.Config{Holder: "b"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			e.RegisterKind("metered", engine.KindHooks{
				UnitCost: func(_ context.Context, j store.Job, _ store.Unit, s float64) (int64, int64) { return j.AccountID, 1 },
			})
			a, _ := st.CreateAccount(ctx, store.Account{Name: "p", Role: store.RoleUser})
			_, _, _ = st.AdjustFunds(ctx, a.ID, store.FundsDelta{BalanceMilli: 1 << 50}, false, time.Now())
			w, _ := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "t", Capabilities: []string{"m"}})
			const batch = 10
			n := (b.N + batch - 1) / batch * batch
			units := make([]engine.UnitSpec, n)
			for i := range units {
				units[i] = engine.UnitSpec{Capability: "m"}
			}
			if _, err := e.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: "metered", Units: units[:min(n, 100_000)]}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				b.StopTimer()
				us, err := e.Lease(ctx, w, batch, 0)
				if err != nil || len(us) == 0 {
					b.Fatalf("lease: %d %v", len(us), err)
				}
				cs := make([]engine.Completion, len(us))
				for i, u := range us {
					cs[i] = engine.Completion{UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch, WorkerID: w.ID, Seconds: 1}
				}
				b.StartTimer()
				if _, err := e.Complete(ctx, cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
