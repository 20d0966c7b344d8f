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

// forEachStore runs fn on a fresh engine over each store driver.
func forEachStore(t *testing.T, fn func(t *testing.T, e *engine.Engine, st store.Store)) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		fn(t, engine.New(st, engine.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil), st)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLicenceRule(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *engine.Engine, st store.Store) {
		ctx := context.Background()
		e.RequireLicence("robot", nil)
		bot, err := e.RegisterWorker(ctx, store.Worker{Name: "bot", Kind: "robot", Capabilities: []string{"rpa"}})
		must(t, err)
		node, err := e.RegisterWorker(ctx, store.Worker{Name: "node", Kind: "render", Capabilities: []string{"rpa"}})
		must(t, err)
		_, err = e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "rpa.job", Units: []engine.UnitSpec{
			{Capability: "rpa"}, {Capability: "rpa"}}})
		must(t, err)

		lease := func(w store.Worker) int {
			t.Helper()
			us, err := e.Lease(ctx, w, 1, 0)
			must(t, err)
			return len(us)
		}
		if n := lease(bot); n != 0 {
			t.Fatalf("an unlicensed robot leased %d units", n)
		}
		if n := lease(node); n != 1 {
			t.Fatalf("a worker of a kind without licences leased %d units, want 1", n)
		}
		// An expired licence is no licence (the store takes any expiry; the engine refuses past ones).
		must(t, st.SetWorkerLicence(ctx, bot.ID, "LIC", new(time.Now().Add(-time.Minute))))
		if n := lease(bot); n != 0 {
			t.Fatalf("a robot with an expired licence leased %d units", n)
		}
		if err := e.SetLicence(ctx, bot.ID, "LIC", new(time.Now().Add(-time.Minute))); err == nil {
			t.Fatal("a licence expiring in the past was issued")
		}
		// The worker passed to Lease is the caller's (possibly cached) copy: the licence is read afresh.
		must(t, e.SetLicence(ctx, bot.ID, "LIC", new(time.Now().Add(time.Hour))))
		if n := lease(bot); n != 1 {
			t.Fatalf("a licensed robot leased %d units, want 1", n)
		}
		must(t, e.SetLicence(ctx, bot.ID, "", nil))
		_, err = e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "rpa.job", Units: []engine.UnitSpec{{Capability: "rpa"}}})
		must(t, err)
		if n := lease(bot); n != 0 {
			t.Fatalf("a robot whose licence was revoked leased %d units", n)
		}
	})
}

func TestCandidateTags(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *engine.Engine, st store.Store) {
		ctx := context.Background()
		if _, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{
			{Capability: "rpa", Tag: "a", AnyTags: []string{"b"}}}}); err == nil {
			t.Fatal("tag and any_tags together accepted")
		}
		if _, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{
			{Capability: "rpa", AnyTags: []string{"a", store.AnyTagMarker}}}}); err == nil {
			t.Fatal("the reserved tag accepted")
		}
		j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{
			{Capability: "rpa", AnyTags: []string{"bot:a", "bot:b"}}}})
		must(t, err)
		for _, tc := range []struct {
			name string
			tags []string
			want int
		}{{"c", []string{"bot:c"}, 0}, {"none", nil, 0}, {"marker", []string{store.AnyTagMarker}, 0}, {"b", []string{"bot:b"}, 1}} {
			w, err := e.RegisterWorker(ctx, store.Worker{Name: "w-" + tc.name, Kind: "robot", Capabilities: []string{"rpa"}, Tags: tc.tags})
			must(t, err)
			us, err := e.Lease(ctx, w, 1, 0)
			must(t, err)
			if len(us) != tc.want || (tc.want == 1 && us[0].JobID != j.ID) {
				t.Fatalf("worker with tags %v leased %+v, want %d units", tc.tags, us, tc.want)
			}
		}
	})
}
