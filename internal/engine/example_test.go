package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// openExampleStore opens an SQLite store in a temporary directory, as `taskcenter dev` does in its data
// directory; cleanup removes it.
func openExampleStore(ctx context.Context) (st *sqlite.Store, cleanup func()) {
	dir, err := os.MkdirTemp("", "taskcenter-example")
	if err != nil {
		panic(err)
	}
	st, err = sqlite.Open(ctx, filepath.Join(dir, "taskcenter.db"))
	if err != nil {
		panic(err)
	}
	return st, func() { _ = st.Close(); _ = os.RemoveAll(dir) }
}

// A job of two units is submitted, a worker leases both, completes them, and the job has succeeded.
func Example_submitLeaseComplete() {
	ctx := context.Background()
	st, cleanup := openExampleStore(ctx)
	defer cleanup()
	eng := engine.New(st, engine.Config{}, slog.New(slog.DiscardHandler), nil)

	acct, err := st.CreateAccount(ctx, store.Account{Name: "studio", CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		panic(err)
	}
	job, err := eng.Submit(ctx, engine.JobSpec{AccountID: acct.ID, Kind: "shell", Units: []engine.UnitSpec{
		{Name: "first", Capability: "shell"}, {Name: "second", Capability: "shell"},
	}})
	if err != nil {
		panic(err)
	}

	// A worker advertises what it can run; it leases only units of those capabilities.
	wk, err := eng.RegisterWorker(ctx, store.Worker{AccountID: acct.ID, Name: "node-1", Capabilities: []string{"shell"}})
	if err != nil {
		panic(err)
	}
	units, err := eng.Lease(ctx, wk, 10, 0)
	if err != nil {
		panic(err)
	}
	done := make([]engine.Completion, len(units))
	for i, u := range units {
		fmt.Println("leased", u.Name)
		// The epoch fences the report: once the unit is taken back, this report would be refused.
		done[i] = engine.Completion{UnitID: u.ID, Epoch: u.Epoch, WorkerID: wk.ID, Result: []byte(`{"exit":0}`)}
	}
	if _, err := eng.Complete(ctx, done); err != nil {
		panic(err)
	}
	job, err = st.GetJob(ctx, job.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("job", job.Status)
	// Output:
	// leased first
	// leased second
	// job succeeded
}

// A dialect takes part in the life of its kind of job through KindHooks: here it prices each unit at
// 1.5 currency units a node-minute and learns when the job has finished; the
// charge lands in the account's ledger with the completion.
func ExampleEngine_RegisterKind() {
	ctx := context.Background()
	st, cleanup := openExampleStore(ctx)
	defer cleanup()
	eng := engine.New(st, engine.Config{}, slog.New(slog.DiscardHandler), nil)

	eng.RegisterKind("render", engine.KindHooks{
		UnitCost: func(_ context.Context, j store.Job, _ store.Unit, seconds float64) (int64, int64) {
			return j.AccountID, int64(seconds / 60 * 1500) // milli
		},
		JobFinished: func(_ context.Context, j store.Job) { fmt.Println("finished:", j.Status) },
	})

	acct, err := st.CreateAccount(ctx, store.Account{Name: "studio", BalanceMilli: 10_000, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		panic(err)
	}
	if _, err := eng.Submit(ctx, engine.JobSpec{AccountID: acct.ID, Kind: "render",
		Units: []engine.UnitSpec{{Name: "frame 1", Capability: "blender"}}}); err != nil {
		panic(err)
	}
	wk, err := eng.RegisterWorker(ctx, store.Worker{Name: "node-1", Capabilities: []string{"blender"}})
	if err != nil {
		panic(err)
	}
	units, err := eng.Lease(ctx, wk, 1, 0)
	if err != nil {
		panic(err)
	}
	// Two minutes of node time at 1.5 a minute: 3.000.
	if _, err := eng.Complete(ctx, []engine.Completion{{UnitID: units[0].ID, Epoch: units[0].Epoch, WorkerID: wk.ID, Seconds: 120}}); err != nil {
		panic(err)
	}
	// The charge committed with the completion; the account's ledger says how it was paid.
	lines, _, err := eng.Ledger(ctx, acct.ID, 10, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("charged: %d milli from the balance, %d unpaid\n", lines[0].BalanceMilli, lines[0].UnpaidMilli)
	acct, err = st.GetAccount(ctx, acct.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("balance left:", acct.BalanceMilli)
	// Output:
	// finished: succeeded
	// charged: 3000 milli from the balance, 0 unpaid
	// balance left: 7000
}
