package console

import (
	"context"
	"encoding/json"
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
	"taskcenter/internal/store/storetest/drivers"
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
func (c *countingStore) ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error) {
	c.calls.Add(1)
	return c.Store.ListJobs(ctx, f)
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

// TestFollowerSendsLiveImages: a watched job's stream carries its children's running units with the
// image that shows what each renders (a frame's progress image, then its thumbnail), and a new
// output changes the message; a child of another account is never shown. On both drivers.
func TestFollowerSendsLiveImages(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		task, err := st.CreateJob(ctx, store.Job{AccountID: 1, Kind: "render.task"}, nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		child, err := st.CreateJob(ctx, store.Job{AccountID: 1, Kind: "render", ParentID: task.ID}, []store.Unit{{Name: "1,2", Capability: "blender"}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := st.CreateJob(ctx, store.Job{AccountID: 2, Kind: "render", ParentID: task.ID}, []store.Unit{{Name: "9", Capability: "blender"}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		wk, err := st.RegisterWorker(ctx, store.Worker{Name: "node", Kind: "render", Capabilities: []string{"blender"}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		leased, err := st.Lease(ctx, store.LeaseRequest{WorkerID: wk.ID, Capabilities: []string{"blender"}, Max: 2, LeaseFor: time.Hour, Now: t0})
		if err != nil || len(leased) != 2 {
			t.Fatalf("leased %d units: %v", len(leased), err)
		}
		var u store.Unit
		for _, l := range leased {
			if l.JobID == child.ID {
				u = l
			}
		}
		ref := store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: wk.ID}
		h := newHub(st, func() time.Time { return t0 }, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
		sub := &subscriber{job: task.ID, ch: make(chan message, 16), gone: make(chan struct{})}
		f := follower{workers: map[int64]string{}, jobs: map[int64]string{}, overviews: map[int64]string{},
			overviewSent: map[int64]native.Overview{}, current: map[int64]jobLive{}}
		// step runs one tick and returns the job messages sent.
		step := func() []jobLive {
			t.Helper()
			if err := h.step(ctx, &f, []*subscriber{sub}, false); err != nil {
				t.Fatal(err)
			}
			var out []jobLive
			for len(sub.ch) > 0 {
				if m := <-sub.ch; m.event == "job" {
					var v jobLive
					if err := json.Unmarshal(m.data, &v); err != nil {
						t.Fatal(err)
					}
					out = append(out, v)
				}
			}
			return out
		}
		step() // primes the stream
		steps := []struct {
			name      string
			outputs   string
			wantImage string
			wantCount int
		}{
			{"frame 1's preview", `{"progress.1":{"hash":"p1","size":1}}`, "p1", 1},
			{"frame 1 done", `{"image.1":{"hash":"i1","size":9},"thumbnail.1":{"hash":"t1","size":2}}`, "t1", 3},
			{"frame 2's preview", `{"progress.2":{"hash":"p2","size":1}}`, "p2", 4},
		}
		for _, tc := range steps {
			if err := st.SetUnitOutputs(ctx, ref, json.RawMessage(tc.outputs), t0); err != nil {
				t.Fatal(err)
			}
			got := step()
			if len(got) != 1 {
				t.Fatalf("%s: %d job messages", tc.name, len(got))
			}
			if len(got[0].Running) != 1 {
				t.Fatalf("%s: running %+v, want the child's unit alone (not job %d's, another account's)", tc.name, got[0].Running, foreign.ID)
			}
			r := got[0].Running[0]
			if r.ID != u.ID || r.JobID != child.ID || r.Image != tc.wantImage || r.Outputs != tc.wantCount {
				t.Errorf("%s: running %+v, want image %s and %d outputs", tc.name, r, tc.wantImage, tc.wantCount)
			}
		}
		if got := step(); len(got) != 0 {
			t.Errorf("nothing changed, yet %d job messages", len(got))
		}
	})
}
