// Package bench measures the engine in-process (insert, lease, complete; no HTTP) against any store, so
// that taskcenter can be run side by side with another queue on the same database in one sitting. It is
// what `taskcenter bench` and the Go benchmarks run.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Options choose the run.
type Options struct {
	Workers  int           // concurrent workers leasing and completing
	Batch    int           // units per lease and per completion report
	Duration time.Duration // continuous mode: insert and work for this long
	Drain    int           // drain mode: pre-insert this many units, then time working them off
	JobSize  int           // units per inserted job
}

// Result is what a run measured.
type Result struct {
	Units   int64
	Elapsed time.Duration
	Mode    string
}

// PerSecond is the throughput.
func (r Result) PerSecond() float64 { return float64(r.Units) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%s: %d units in %s = %.0f units/s", r.Mode, r.Units, r.Elapsed.Round(time.Millisecond), r.PerSecond())
}

// Run measures eng, which must have been built on st, a store it may write to (the run's account and
// its clearing are written there directly).
func Run(ctx context.Context, eng *engine.Engine, st store.Store, o Options) (res Result, err error) {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.JobSize <= 0 {
		o.JobSize = 1000
	}
	acct, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Role: store.RoleUser})
	if err != nil {
		return Result{}, fmt.Errorf("create bench account: %w", err)
	}
	capability := fmt.Sprintf("bench-%d", acct.ID) // this run's units only, even on a shared database
	// A run leaves no jobs or workers behind: the next run, or another queue measured on the same
	// database, should not scan this one's rows.
	defer func() {
		if cerr := clearRun(context.WithoutCancel(ctx), eng, st, acct.ID); cerr != nil && err == nil {
			err = cerr
		}
	}()
	submit := func(n int) error {
		units := make([]engine.UnitSpec, n)
		for i := range units {
			units[i] = engine.UnitSpec{Capability: capability, Spec: json.RawMessage(`{}`)}
		}
		_, err := eng.Submit(ctx, engine.JobSpec{AccountID: acct.ID, Kind: "bench", Units: units})
		return err
	}

	if o.Drain > 0 {
		for left := o.Drain; left > 0; left -= o.JobSize {
			if err := submit(min(left, o.JobSize)); err != nil {
				return Result{}, fmt.Errorf("pre-insert: %w", err)
			}
		}
		start := time.Now()
		done, err := work(ctx, eng, o, acct.ID, capability, func(done int64) bool { return done >= int64(o.Drain) })
		return Result{Units: done, Elapsed: time.Since(start), Mode: fmt.Sprintf("drain %d units, %d workers", o.Drain, o.Workers)}, err
	}

	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var inserted atomic.Int64
	var completed atomic.Int64
	insertErr := make(chan error, 1)
	go func() { // insert continuously, keeping a bounded backlog ahead of the workers
		for runCtx.Err() == nil {
			if inserted.Load()-completed.Load() > int64(20*o.JobSize) {
				time.Sleep(time.Millisecond)
				continue
			}
			if err := submit(o.JobSize); err != nil {
				if runCtx.Err() == nil {
					insertErr <- err
				}
				return
			}
			inserted.Add(int64(o.JobSize))
		}
		insertErr <- nil
	}()
	start := time.Now()
	done, err := work(runCtx, eng, o, acct.ID, capability, func(done int64) bool {
		completed.Store(done)
		return false
	})
	elapsed := time.Since(start)
	if e := <-insertErr; e != nil && err == nil {
		err = fmt.Errorf("insert: %w", e)
	}
	return Result{Units: done, Elapsed: elapsed, Mode: fmt.Sprintf("insert+work for %s, %d workers", o.Duration, o.Workers)}, err
}

// clearRun deletes the jobs (with their units) and the workers of a run's account.
func clearRun(ctx context.Context, eng *engine.Engine, st store.Store, accountID int64) error {
	jobs, _, err := st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{accountID}, WithDeleted: true})
	if err != nil {
		return fmt.Errorf("list the run's jobs: %w", err)
	}
	for _, j := range jobs {
		if err := eng.Purge(ctx, j.ID); err != nil {
			return fmt.Errorf("delete the run's job: %w", err)
		}
	}
	workers, err := st.ListWorkers(ctx, "bench")
	if err != nil {
		return fmt.Errorf("list the run's workers: %w", err)
	}
	for _, w := range workers {
		if w.AccountID == accountID {
			if err := st.DeleteWorker(ctx, w.ID); err != nil {
				return fmt.Errorf("delete the run's worker %d: %w", w.ID, err)
			}
		}
	}
	return nil
}

// work runs o.Workers workers until stop says so or ctx ends, and returns the units completed.
func work(ctx context.Context, eng *engine.Engine, o Options, accountID int64, capability string, stop func(done int64) bool) (int64, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.Workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Register every worker before any starts, so that a fast drain cannot end the run mid-registration.
	workers := make([]store.Worker, o.Workers)
	for i := range workers {
		w, err := eng.RegisterWorker(ctx, store.Worker{Name: fmt.Sprintf("%s-w%d", capability, i), Kind: "bench", Capabilities: []string{capability}, AccountID: accountID})
		if err != nil {
			return 0, err
		}
		workers[i] = w
	}
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				units, err := eng.Lease(ctx, w, o.Batch, 50*time.Millisecond)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
				if len(units) == 0 {
					continue
				}
				cs := make([]engine.Completion, len(units))
				for i, u := range units {
					cs[i] = engine.Completion{UnitID: u.ID, Epoch: u.Epoch, WorkerID: w.ID}
				}
				// Completing uses a context of its own: units leased must be reported even as the run ends.
				res, err := eng.Complete(context.WithoutCancel(ctx), cs)
				if err != nil {
					errs <- err
					cancel()
					return
				}
				var ok int64
				for _, e := range res {
					if e == nil {
						ok++
					}
				}
				if stop(done.Add(ok)) {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return done.Load(), <-errs
}
