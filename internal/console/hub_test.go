package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/native"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// countingStore counts the reads the follower makes.
type countingStore struct {
	Store
	calls atomic.Int64
}

func (c *countingStore) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	c.calls.Add(1)
	return c.Store.ListEvents(ctx, f)
}
func (c *countingStore) ListWorkers(ctx context.Context, kind string) ([]store.Worker, error) {
	c.calls.Add(1)
	return c.Store.ListWorkers(ctx, kind)
}
func (c *countingStore) GetJob(ctx context.Context, id int64) (store.Job, error) {
	c.calls.Add(1)
	return c.Store.GetJob(ctx, id)
}
func (c *countingStore) UnitCounts(ctx context.Context, ids []int64) (map[int64]map[store.UnitStatus]int, error) {
	c.calls.Add(1)
	return c.Store.UnitCounts(ctx, ids)
}
func (c *countingStore) ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error) {
	c.calls.Add(1)
	return c.Store.ListUnits(ctx, f)
}
func (c *countingStore) TallyUnits(ctx context.Context, accountID int64) ([]store.UnitTally, error) {
	c.calls.Add(1)
	return c.Store.TallyUnits(ctx, accountID)
}
func (c *countingStore) QueueDepth(ctx context.Context, now time.Time) (map[string]int, error) {
	c.calls.Add(1)
	return c.Store.QueueDepth(ctx, now)
}

// TestFollowerCostIsFlat: one step of the follower reads the store as often for 100 consoles as
// for one, when they show the same things (the overview, one job, lists).
func TestFollowerCostIsFlat(t *testing.T) {
	ctx := context.Background()
	st := sqlite.OpenTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j, err := st.CreateJob(ctx, store.Job{AccountID: 1, Kind: "batch"}, []store.Unit{{Capability: "shell"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	h := newHub(cs, func() time.Time { return t0 }, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	readsFor := func(consoles int) int64 {
		subs := make([]*subscriber, consoles)
		for i := range subs {
			subs[i] = &subscriber{ch: make(chan message, 256), gone: make(chan struct{})}
			switch i % 3 {
			case 0:
				subs[i].overview = true
			case 1:
				subs[i].job = j.ID
			}
		}
		f := follower{workers: map[int64]string{}, jobs: map[int64]string{}, overviews: map[int64]string{},
			overviewSent: map[int64]native.Overview{}, current: map[int64]jobLive{}}
		if err := h.step(ctx, &f, subs, true); err != nil {
			t.Fatal(err)
		}
		before := cs.calls.Load()
		if err := h.step(ctx, &f, subs, false); err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if len(s.ch) == 0 || !s.primed {
				t.Fatalf("a console was not told where things stand")
			}
		}
		return cs.calls.Load() - before
	}
	one, hundred := readsFor(3), readsFor(100)
	if one != hundred || one == 0 {
		t.Fatalf("a step reads the store %d times for 3 consoles and %d for 100", one, hundred)
	}
}

// TestFollowerSendsWorkerChanges: a worker going offline reaches the admin's consoles and the
// consoles of the worker's account, not another account's; a removed worker reaches the admin's.
func TestFollowerSendsWorkerChanges(t *testing.T) {
	ctx := context.Background()
	st := sqlite.OpenTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	wk, err := st.RegisterWorker(ctx, store.Worker{AccountID: 7, Name: "robot-1", Kind: "robot", Capabilities: []string{"rpa"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(st, func() time.Time { return t0 }, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	admin, owner, other := &subscriber{ch: make(chan message, 16), gone: make(chan struct{})},
		&subscriber{scope: 7, ch: make(chan message, 16), gone: make(chan struct{})},
		&subscriber{scope: 8, ch: make(chan message, 16), gone: make(chan struct{})}
	subs := []*subscriber{admin, owner, other}
	f := follower{workers: map[int64]string{}, jobs: map[int64]string{}, overviews: map[int64]string{},
		overviewSent: map[int64]native.Overview{}, current: map[int64]jobLive{}}
	step := func() {
		t.Helper()
		if err := h.step(ctx, &f, subs, false); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(s *subscriber) []string {
		var out []string
		for len(s.ch) > 0 {
			m := <-s.ch
			out = append(out, m.event+" "+string(m.data))
		}
		return out
	}
	step()
	for _, s := range subs {
		drain(s)
	}
	if _, err := st.MarkOffline(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	step()
	for _, tc := range []struct {
		name string
		sub  *subscriber
		want bool
	}{{"admin", admin, true}, {"owner", owner, true}, {"another account", other, false}} {
		got := strings.Join(drain(tc.sub), "\n")
		if has := strings.Contains(got, `worker {"id":`) && strings.Contains(got, `"status":"offline"`); has != tc.want {
			t.Errorf("%s: offline worker sent %v, want %v: %s", tc.name, has, tc.want, got)
		}
	}
	// A drain changes neither status nor heartbeat, and still reaches the consoles that see it.
	if err := st.SetWorkerDrained(ctx, wk.ID, &t0); err != nil {
		t.Fatal(err)
	}
	step()
	if got := strings.Join(drain(owner), "\n"); !strings.Contains(got, `"drained_at":"2026-01-01T00:00:00Z"`) {
		t.Errorf("the drain was not sent to the owner: %s", got)
	}
	if got := drain(other); len(got) != 0 {
		t.Errorf("the drain was sent to another account: %v", got)
	}
	drain(admin)
	if err := st.DeleteWorker(ctx, wk.ID); err != nil {
		t.Fatal(err)
	}
	step()
	if got := strings.Join(drain(admin), "\n"); !strings.Contains(got, fmt.Sprintf(`worker_removed {"id":%d}`, wk.ID)) {
		t.Errorf("admin was not told of the removal: %s", got)
	}
	if got := drain(other); len(got) != 0 {
		t.Errorf("another account heard %v", got)
	}
}
