package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// testClock is an engine clock that tests move on.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// inProcessEngine is an engine whose in-process workers heartbeat only when a control asks them to,
// retry at once and look for work often. finished receives every job of kind "k" that ends.
func inProcessEngine(t *testing.T, st store.Store, clock *testClock, holder string) (*engine.Engine, chan store.Job) {
	t.Helper()
	cfg := engine.Config{Holder: holder, Heartbeat: time.Hour, IdleRecheck: 10 * time.Millisecond,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, AvoidFor: time.Millisecond}
	if clock != nil {
		cfg.Now = clock.Now
	}
	e := engine.New(st, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	finished := make(chan store.Job, 10)
	e.RegisterKind("k", engine.KindHooks{JobFinished: func(_ context.Context, j store.Job) { finished <- j }})
	return e, finished
}

func startInProcess(t *testing.T, e *engine.Engine, capability string, h engine.InProcessHandler) *engine.InProcessWorker {
	t.Helper()
	w, err := e.StartInProcess(context.Background(), capability, 2, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

// TestInProcessOutcomes: an in-process worker leases its capability's units through the lease path
// and reports through the engine: a result completes the unit, an error is retried while attempts
// remain, ErrPermanent and a unit out of attempts fail it, and a panicking handler fails its attempt
// without taking the server down.
func TestInProcessOutcomes(t *testing.T) {
	failing := errors.New("scratch disk full")
	tests := []struct {
		name        string
		maxAttempts int
		// handle answers the n-th call (from 1).
		handle       func(n int) (json.RawMessage, error)
		wantJob      store.JobStatus
		wantUnit     store.UnitStatus
		wantAttempts int
		wantResult   string
		wantError    string
	}{
		{"completes", 3, func(int) (json.RawMessage, error) { return json.RawMessage(`{"ok":1}`), nil },
			store.JobSucceeded, store.UnitDone, 1, `{"ok":1}`, ""},
		{"retried after a failure", 3, func(n int) (json.RawMessage, error) {
			if n == 1 {
				return nil, failing
			}
			return json.RawMessage(`{"ok":2}`), nil
		}, store.JobSucceeded, store.UnitDone, 2, `{"ok":2}`, ""},
		{"permanent failure not retried", 3, func(int) (json.RawMessage, error) {
			return nil, fmt.Errorf("%w: the input is bad", engine.ErrPermanent)
		}, store.JobFailed, store.UnitFailed, 1, "", "permanent failure: the input is bad"},
		{"out of attempts", 2, func(int) (json.RawMessage, error) { return nil, failing },
			store.JobFailed, store.UnitFailed, 2, "", "scratch disk full"},
		{"panic fails the attempt", 3, func(n int) (json.RawMessage, error) {
			if n == 1 {
				panic("nil map")
			}
			return json.RawMessage(`{"ok":3}`), nil
		}, store.JobSucceeded, store.UnitDone, 2, `{"ok":3}`, ""},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		e, finished := inProcessEngine(t, st, nil, "outcomes")
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				capability := fmt.Sprintf("inprocess:outcome-%d", i)
				var calls atomic.Int32
				w := startInProcess(t, e, capability, func(_ context.Context, u store.Unit) (json.RawMessage, error) {
					return tc.handle(int(calls.Add(1)))
				})
				j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", MaxAttempts: tc.maxAttempts,
					Units: []engine.UnitSpec{{Capability: capability}}})
				if err != nil {
					t.Fatal(err)
				}
				if got := await(t, finished, "the job to end"); got.ID != j.ID || got.Status != tc.wantJob {
					t.Fatalf("job ended %d %s, want %d %s", got.ID, got.Status, j.ID, tc.wantJob)
				}
				u := onlyUnit(t, st, j.ID)
				if u.Status != tc.wantUnit || u.Attempts != tc.wantAttempts || (tc.wantResult != "" && string(u.Result) != tc.wantResult) ||
					(tc.wantError != "" && u.Error != tc.wantError) {
					t.Fatalf("unit %s after %d attempts, result %s, error %q; want %s after %d, %s, %q",
						u.Status, u.Attempts, u.Result, u.Error, tc.wantUnit, tc.wantAttempts, tc.wantResult, tc.wantError)
				}
				if u.Status == store.UnitDone && u.WorkerID != w.Worker().ID {
					t.Fatalf("unit done by worker %d, want the in-process worker %d", u.WorkerID, w.Worker().ID)
				}
			})
		}
	})
}

// TestInProcessTakeover: a process that dies while running an in-process unit stops heartbeating;
// once its lease expires the leader's sweep requeues the unit and another engine on the same store
// runs it. The dead process's late report is refused.
func TestInProcessTakeover(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		clock := newTestClock()
		a, _ := inProcessEngine(t, st, clock, "replica-a")
		b, finished := inProcessEngine(t, st, clock, "replica-b")
		const capability = "inprocess:takeover"
		// a's handler hangs as a process that died would, until the test lets it report late.
		aRunning, late := make(chan store.Unit, 1), make(chan struct{})
		aw := startInProcess(t, a, capability, func(_ context.Context, u store.Unit) (json.RawMessage, error) {
			aRunning <- u
			<-late
			return json.RawMessage(`{"by":"a"}`), nil
		})
		j, err := a.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: capability}}})
		if err != nil {
			t.Fatal(err)
		}
		first := await(t, aRunning, "replica a to run the unit")
		bw := startInProcess(t, b, capability, func(_ context.Context, u store.Unit) (json.RawMessage, error) {
			return json.RawMessage(`{"by":"b"}`), nil
		})
		// Not expired yet: the sweep leaves the unit with a.
		if err := b.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if u := onlyUnit(t, st, j.ID); u.Status != store.UnitRunning || u.WorkerID != aw.Worker().ID {
			t.Fatalf("before its lease expired the unit is %s with worker %d", u.Status, u.WorkerID)
		}
		clock.Add(b.Config().LeaseFor + time.Second)
		if err := b.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := await(t, finished, "the job to end"); got.ID != j.ID || got.Status != store.JobSucceeded {
			t.Fatalf("job ended %d %s, want %d succeeded", got.ID, got.Status, j.ID)
		}
		close(late)
		if err := aw.Stop(ctx); err != nil { // returns once a's handler has reported
			t.Fatal(err)
		}
		u := onlyUnit(t, st, j.ID)
		if u.Status != store.UnitDone || u.WorkerID != bw.Worker().ID || string(u.Result) != `{"by":"b"}` || u.Attempts != 2 || u.Epoch <= first.Epoch {
			t.Fatalf("after the takeover: %s by worker %d (b is %d), result %s, %d attempts", u.Status, u.WorkerID, bw.Worker().ID, u.Result, u.Attempts)
		}
	})
}

// TestInProcessStopAndControls: stopping a worker hands its running units back without counting the
// attempt, for the next worker to run; pausing or aborting a job stops its running in-process
// handler at once (not at the next heartbeat), and a resumed unit runs again.
func TestInProcessStopAndControls(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e, finished := inProcessEngine(t, st, nil, "controls")
		const capability = "inprocess:controls"
		type call struct {
			unit  store.Unit
			cause chan error
		}
		// The first worker's handler runs until it is told to stop and says why.
		calls := make(chan call, 4)
		w1, err := e.StartInProcess(ctx, capability, 1, func(ctx context.Context, u store.Unit) (json.RawMessage, error) {
			c := call{unit: u, cause: make(chan error, 1)}
			calls <- c
			<-ctx.Done()
			c.cause <- context.Cause(ctx)
			return nil, ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		submit := func() int64 {
			t.Helper()
			j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: capability}}})
			if err != nil {
				t.Fatal(err)
			}
			return j.ID
		}

		paused := submit()
		c := await(t, calls, "the handler to run")
		if err := e.Pause(ctx, paused, "user"); err != nil {
			t.Fatal(err)
		}
		if cause := await(t, c.cause, "the paused unit's handler to stop"); cause == nil || cause.Error() != "the engine took the unit back" {
			t.Fatalf("paused handler stopped because %v", cause)
		}
		if err := e.Resume(ctx, paused); err != nil {
			t.Fatal(err)
		}
		c = await(t, calls, "the resumed unit to run again")
		if err := e.Abort(ctx, paused); err != nil {
			t.Fatal(err)
		}
		await(t, c.cause, "the aborted unit's handler to stop")
		if j := await(t, finished, "the aborted job"); j.ID != paused || j.Status != store.JobCancelled {
			t.Fatalf("aborted job: %d %s", j.ID, j.Status)
		}
		if u := onlyUnit(t, st, paused); u.Status != store.UnitCancelled {
			t.Fatalf("aborted unit: %s", u.Status)
		}

		stopped := submit()
		c = await(t, calls, "the handler to run")
		if err := w1.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if u := onlyUnit(t, st, stopped); u.Status != store.UnitQueued || u.Attempts != 0 || u.WorkerID != 0 {
			t.Fatalf("after the worker stopped its unit is %s after %d attempts with worker %d, want queued, 0, none",
				u.Status, u.Attempts, u.WorkerID)
		}
		if w, err := st.GetWorker(ctx, w1.Worker().ID); err != nil || w.Status != store.WorkerOffline {
			t.Fatalf("stopped worker: %s, %v", w.Status, err)
		}
		startInProcess(t, e, capability, func(context.Context, store.Unit) (json.RawMessage, error) { return nil, nil })
		if j := await(t, finished, "the handed-back unit to run"); j.ID != stopped || j.Status != store.JobSucceeded {
			t.Fatalf("handed-back job: %d %s", j.ID, j.Status)
		}
	})
}

// TestInProcessWorkReserved: no worker from outside the process may claim in-process work, and an
// in-process worker serves only a capability marked as such.
func TestInProcessWorkReserved(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e, _ := inProcessEngine(t, open(t), nil, "reserved")
		for _, w := range []store.Worker{
			{Name: "node", Capabilities: []string{"blender", "inprocess:render-analyse"}},
			{Name: "node", Kind: engine.WorkerKindInProcess, Capabilities: []string{"blender"}},
		} {
			if _, err := e.RegisterWorker(ctx, w); !errors.Is(err, engine.ErrInvalid) {
				t.Errorf("agent registering %+v: %v, want ErrInvalid", w, err)
			}
		}
		noop := func(context.Context, store.Unit) (json.RawMessage, error) { return nil, nil }
		for _, c := range []string{"blender", "inprocess:"} {
			if _, err := e.StartInProcess(ctx, c, 1, noop); !errors.Is(err, engine.ErrInvalid) {
				t.Errorf("in-process worker for %q: %v, want ErrInvalid", c, err)
			}
		}
	})
}

// TestInternalJobsUncounted: jobs of an Internal kind (work the server does for a job the account
// holds) neither count against the account's jobs in flight nor are refused by them.
func TestInternalJobsUncounted(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := engine.New(open(t), engine.Config{Holder: "limits", JobsInFlight: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		e.RegisterKind("analysis", engine.KindHooks{Internal: true})
		steps := []struct {
			kind    string
			refused bool
		}{
			{"analysis", false}, {"render", false}, {"analysis", false}, {"render", true},
		}
		for i, s := range steps {
			_, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: s.kind, Units: []engine.UnitSpec{{Capability: "c"}}})
			if refused := errors.Is(err, engine.ErrLimit); refused != s.refused || (err != nil && !refused) {
				t.Fatalf("step %d, a %s job: %v, want refused=%v", i, s.kind, err, s.refused)
			}
		}
	})
}
