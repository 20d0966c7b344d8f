package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlstore"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// racingStore changes the job's status just before the engine's first conditional patch of it, as a
// lease marking the job running between the engine's read and its write would.
type racingStore struct {
	store.Store
	once sync.Once
	to   store.JobStatus
}

func (s *racingStore) PatchJob(ctx context.Context, id int64, p store.JobPatch, now time.Time) (store.Job, error) {
	if len(p.IfStatus) > 0 {
		s.once.Do(func() {
			if _, err := s.Store.PatchJob(ctx, id, store.JobPatch{Status: &s.to}, now); err != nil {
				panic(err)
			}
		})
	}
	return s.Store.PatchJob(ctx, id, p, now)
}

// TestControlRedoneAfterRace checks that pause and abort succeed when the job's status changes
// between the engine's read and its write, instead of failing with "changed meanwhile".
func TestControlRedoneAfterRace(t *testing.T) {
	tests := []struct {
		name string
		do   func(context.Context, *engine.Engine, int64) error
		want store.JobStatus
	}{
		{"pause", func(ctx context.Context, e *engine.Engine, id int64) error { return e.Pause(ctx, id, "user") }, store.JobPaused},
		{"abort", func(ctx context.Context, e *engine.Engine, id int64) error { return e.Abort(ctx, id) }, store.JobCancelled},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := &racingStore{Store: open(t), to: store.JobRunning}
				e := engine.New(st, engine.Config{Holder: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
				j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}}})
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.do(ctx, e, j.ID); err != nil {
					t.Fatalf("%s after a concurrent change: %v", tc.name, err)
				}
				got, err := st.GetJob(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.want {
					t.Fatalf("job %s, want %s", got.Status, tc.want)
				}
			})
		}
	})
}

// TestPurgeForgetsJob purges an open job the engine has reported on, then runs a job of a closed kind
// (on SQLite it takes the purged job's id): the new job still finishes when its units do.
func TestPurgeForgetsJob(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := engine.New(st, engine.Config{Holder: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		e.RegisterKind("queue", engine.KindHooks{Open: true})
		w, err := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "test", Capabilities: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		run := func(kind string) store.Job {
			j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: kind, Units: []engine.UnitSpec{{Capability: "c"}}})
			if err != nil {
				t.Fatal(err)
			}
			u, err := e.LeaseJob(ctx, w.ID, j.ID, []string{"c"}, 1, 0)
			if err != nil || len(u) != 1 {
				t.Fatalf("lease: %d units, %v", len(u), err)
			}
			if errs, err := e.Complete(ctx, []engine.Completion{{UnitID: u[0].ID, JobID: j.ID, Epoch: u[0].Epoch}}); err != nil || errs[0] != nil {
				t.Fatalf("complete: %v %v", errs, err)
			}
			got, err := st.GetJob(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		q := run("queue")
		if q.Status.Terminal() {
			t.Fatalf("an open job ended with its units: %s", q.Status)
		}
		if err := e.Purge(ctx, q.ID); err != nil {
			t.Fatal(err)
		}
		if j := run("batch"); j.Status != store.JobSucceeded {
			t.Fatalf("job %d (purged job was %d) is %s, want succeeded", j.ID, q.ID, j.Status)
		}
	})
}

// TestControlAndPriorityDoNotDeadlock: a pause, which moves a job's units and then writes the job in
// one transaction, and a change of the job's priority, which writes both too, take the rows in one
// order: the second waits for the first instead of the two waiting for each other. Only PostgreSQL
// runs two writers at once.
func TestControlAndPriorityDoNotDeadlock(t *testing.T) {
	for _, d := range drivers.All() {
		if d.Name != "postgres" {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			raw := d.Open(t)
			w, ok := raw.(interface{ Writer() sqlstore.Querier })
			if !ok {
				t.Fatalf("%T has no Writer", raw)
			}
			st := &sweepBetween{Store: raw}
			e := engine.New(st, engine.Config{}, discard(), nil)
			j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}, {Capability: "c"}}})
			must(t, err)
			prio := make(chan error, 1)
			st.sweep = func() {
				// The pause holds the units now; the priority change starts and waits for them.
				go func() {
					p := 5
					_, err := raw.PatchJob(ctx, j.ID, store.JobPatch{Priority: &p}, time.Now())
					prio <- err
				}()
				testutil.Eventually(t, 30*time.Second, func() error {
					var waiting int
					if err := w.Writer().QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity
						WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%SET priority%'`).Scan(&waiting); err != nil {
						return err
					}
					if waiting == 0 {
						return errors.New("the priority change is not waiting yet")
					}
					return nil
				})
			}
			must(t, e.Pause(ctx, j.ID, ""))
			st.sweep = nil
			must(t, await(t, prio, "priority change"))
			got, err := raw.GetJob(ctx, j.ID)
			must(t, err)
			if got.Status != store.JobPaused || got.Priority != 5 {
				t.Fatalf("job %s at priority %d", got.Status, got.Priority)
			}
		})
	}
}
