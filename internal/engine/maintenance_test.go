package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// t0 is where the tests' clocks start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clocked is an engine over a fresh store whose clock the test moves.
type clocked struct {
	e   *engine.Engine
	st  store.Store
	clk *testutil.Clock
}

// forEachClocked runs fn on an engine with a frozen clock over each store driver.
func forEachClocked(t *testing.T, cfg engine.Config, fn func(t *testing.T, c clocked)) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		clk := testutil.NewClock(t0)
		cfg.Now = clk.Now
		fn(t, clocked{e: engine.New(st, cfg, discard(), nil), st: st, clk: clk})
	})
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// await waits for a signal, failing the test if none comes within a generous time.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// leadWatch is a store that reports the result of every attempt to lead.
type leadWatch struct {
	store.Store
	tries chan bool
}

func (s leadWatch) TryLead(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	ok, err := s.Store.TryLead(ctx, name, holder, ttl, now)
	select {
	case s.tries <- ok && err == nil:
	default: // nobody listening now
	}
	return ok, err
}

// probe is a service that signals when it starts and when its context ends, and holds its run open
// meanwhile, as a long sweep would.
type probe struct {
	started, stopped chan struct{}
	runs             atomic.Int64
}

func newProbe() *probe {
	return &probe{started: make(chan struct{}, 100), stopped: make(chan struct{}, 100)}
}

func (p *probe) service() engine.Service {
	return engine.NewService("probe", time.Millisecond, func(ctx context.Context, _ time.Time) error {
		p.runs.Add(1)
		p.started <- struct{}{}
		<-ctx.Done()
		p.stopped <- struct{}{}
		return ctx.Err()
	})
}

// TestLeaderRunsServices: the leader runs the registered services, a replica that does not lead runs
// none, and one that loses leadership stops them.
func TestLeaderRunsServices(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := open(t)
		clk := testutil.NewClock(t0)
		cfg := engine.Config{SweepEvery: time.Millisecond, LeaderTTL: time.Minute, Now: clk.Now}
		newReplica := func(holder string) (*engine.Engine, leadWatch, *probe) {
			w := leadWatch{Store: st, tries: make(chan bool, 100)}
			cfg.Holder = holder
			e := engine.New(w, cfg, discard(), nil)
			p := newProbe()
			must(t, e.RegisterService(p.service()))
			return e, w, p
		}
		a, _, pa := newReplica("a")
		b, bw, pb := newReplica("b")

		aDone := make(chan error, 1)
		go func() { aDone <- a.Run(ctx) }()
		await(t, pa.started, "start of the leader's service")
		if !a.IsLeader() {
			t.Fatal("a runs its services without leading")
		}

		bCtx, stopB := context.WithCancel(ctx)
		bDone := make(chan error, 1)
		go func() { bDone <- b.Run(bCtx) }()
		for range 3 {
			if await(t, bw.tries, "election on b") {
				t.Fatal("b took leadership a holds")
			}
		}
		if n := pb.runs.Load(); n != 0 || b.IsLeader() {
			t.Fatalf("a replica that does not lead ran its service %d times (leader %v)", n, b.IsLeader())
		}
		stopB()
		must(t, await(t, bDone, "end of b's Run"))

		// Another holder takes over once a's term has run out: a stops its services.
		if ok, err := st.TryLead(ctx, "sweeper", "c", time.Hour, clk.Now().Add(2*time.Minute)); err != nil || !ok {
			t.Fatalf("take leadership over: %v, %v", ok, err)
		}
		await(t, pa.stopped, "stop of the service after leadership was lost")
		if n := pa.runs.Load(); n != 1 {
			t.Fatalf("the probe ran %d times; its one run was held open until leadership was lost", n)
		}
		cancel()
		must(t, await(t, aDone, "end of a's Run"))
		if a.IsLeader() {
			t.Fatal("a still says it leads")
		}
	})
}

// TestSweepIsolatesFailures: a failing or panicking service reports its error and leaves the others
// running, and every run is counted per service.
func TestSweepIsolatesFailures(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		e := engine.New(c.st, engine.Config{Now: c.clk.Now}, discard(), engine.NewMetrics(reg, c.st))
		var ranAt []time.Time
		services := []engine.Service{
			engine.NewService("fails", 0, func(context.Context, time.Time) error { return errors.New("disk on fire") }),
			engine.NewService("panics", 0, func(context.Context, time.Time) error { panic("bug") }),
			engine.NewService("works", 0, func(_ context.Context, now time.Time) error { ranAt = append(ranAt, now); return nil }),
		}
		for _, s := range services {
			must(t, e.RegisterService(s))
		}
		err := e.Sweep(ctx)
		for _, want := range []string{"maintenance service fails: disk on fire", "maintenance service panics: panic: bug"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("sweep error %v, want it to say %q", err, want)
			}
		}
		if len(ranAt) != 1 || !ranAt[0].Equal(t0) {
			t.Fatalf("the working service ran at %v, want once at the engine's clock %v", ranAt, t0)
		}
		c.clk.Advance(time.Second)
		must(t, e.RunService(ctx, "works"))
		if len(ranAt) != 2 || !ranAt[1].Equal(t0.Add(time.Second)) {
			t.Fatalf("RunService ran it at %v", ranAt)
		}
		if err := e.RunService(ctx, "missing"); err == nil {
			t.Fatal("an unknown service ran")
		}
		for _, tc := range []struct {
			service      string
			runs, errors float64
		}{
			{"fails", 1, 1}, {"panics", 1, 1}, {"works", 2, 0}, {"rescuer", 1, 0}, {"schedules", 1, 0},
		} {
			if got := metricValue(t, reg, "taskcenter_maintenance_runs_total", tc.service); got != tc.runs {
				t.Errorf("%s: %v runs counted, want %v", tc.service, got, tc.runs)
			}
			if got := metricValue(t, reg, "taskcenter_maintenance_errors_total", tc.service); got != tc.errors {
				t.Errorf("%s: %v errors counted, want %v", tc.service, got, tc.errors)
			}
			if got := metricValue(t, reg, "taskcenter_maintenance_duration_seconds", tc.service); got != tc.runs {
				t.Errorf("%s: %v durations observed, want %v", tc.service, got, tc.runs)
			}
		}
	})
}

// metricValue reads a counter's value, or a histogram's sample count, for one service.
func metricValue(t *testing.T, g prometheus.Gatherer, name, service string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					if h := m.GetHistogram(); h != nil {
						return float64(h.GetSampleCount())
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRegisterService: names are unique and required; the engine's own services come first, in the
// order a sweep runs them.
func TestRegisterService(t *testing.T) {
	e := engine.New(nil, engine.Config{}, discard(), nil)
	noop := func(context.Context, time.Time) error { return nil }
	tests := []struct {
		name    string
		service engine.Service
		wantErr bool
	}{
		{"new", engine.NewService("render.top-ups", time.Minute, noop), false},
		{"taken by the engine", engine.NewService("rescuer", 0, noop), true},
		{"taken by a facade", engine.NewService("render.top-ups", 0, noop), true},
		{"no name", engine.NewService("", 0, noop), true},
		{"nil", nil, true},
	}
	for _, tc := range tests {
		if err := e.RegisterService(tc.service); (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
	var names []string
	for _, s := range e.Services() {
		names = append(names, s.Name())
	}
	want := []string{"rescuer", "time-limits", "pending-timeouts", "offline-workers", "finish-jobs", "arrears", "schedules",
		"nonces", "job-tallies", "render.top-ups"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
}
