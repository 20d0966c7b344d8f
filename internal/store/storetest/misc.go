package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func testWorkers(t *testing.T, s store.Store) {
	ctx := context.Background()
	w, err := s.RegisterWorker(ctx, store.Worker{AccountID: 3, Name: "node-1", Kind: "render",
		Capabilities: []string{"blender", "maya"}, Tags: []string{"gpu"}, Info: json.RawMessage(`{"os":"linux"}`),
		Status: store.WorkerOffline}, t0)
	must(t, err)
	if w.ID == 0 || w.Status != store.WorkerIdle || !w.LastHeartbeat.Equal(t0) || !w.CreatedAt.Equal(t0) ||
		!slices.Equal(w.Capabilities, []string{"blender", "maya"}) || !slices.Equal(w.Tags, []string{"gpu"}) {
		t.Fatalf("registered %+v", w)
	}
	jsonEq(t, "info", w.Info, `{"os":"linux"}`)
	must(t, s.TouchWorker(ctx, w.ID, store.WorkerBusy, at(time.Second)))
	eq(t, "first incarnation", w.Incarnation, int64(1))
	again, err := s.RegisterWorker(ctx, store.Worker{AccountID: 3, Name: "node-1", Kind: "robot",
		Capabilities: []string{"rpa"}}, at(time.Minute))
	must(t, err)
	if again.ID != w.ID || again.Kind != "robot" || again.Status != store.WorkerIdle || again.AccountID != 3 ||
		!again.CreatedAt.Equal(t0) || !again.LastHeartbeat.Equal(at(time.Minute)) || again.Incarnation != 2 ||
		!slices.Equal(again.Capabilities, []string{"rpa"}) || again.Tags != nil || again.Info != nil {
		t.Fatalf("re-registered %+v", again)
	}
	// A name belongs to one account: another account's (or the shared, 0) worker of that name is
	// another worker, and registering it leaves the first alone.
	for _, acct := range []int64{9, 0} {
		other, err := s.RegisterWorker(ctx, store.Worker{AccountID: acct, Name: "node-1", Kind: "render",
			Capabilities: []string{"blender"}}, at(time.Minute))
		must(t, err)
		if other.ID == w.ID || other.AccountID != acct || other.Incarnation != 1 {
			t.Fatalf("account %d registered %+v over %+v", acct, other, w)
		}
		mine, err := s.GetWorker(ctx, w.ID)
		must(t, err)
		if mine.AccountID != 3 || mine.Kind != "robot" || mine.Incarnation != 2 {
			t.Fatalf("account %d's registration changed worker %+v", acct, mine)
		}
		must(t, s.DeleteWorker(ctx, other.ID))
	}
	w2, err := s.RegisterWorker(ctx, store.Worker{Name: "node-2", Kind: "render"}, at(time.Minute))
	must(t, err)
	all, err := s.ListWorkers(ctx, "")
	must(t, err)
	eq(t, "workers", len(all), 2)
	rs, err := s.ListWorkers(ctx, "render")
	must(t, err)
	if len(rs) != 1 || rs[0].ID != w2.ID {
		t.Fatalf("render workers %+v", rs)
	}

	must(t, s.UpdateWorkerInfo(ctx, w.ID, json.RawMessage(`{"os":"win"}`), []string{"a", "b"}))
	must(t, s.UpdateWorkerInfo(ctx, w.ID, nil, nil))
	got, err := s.GetWorker(ctx, w.ID)
	must(t, err)
	jsonEq(t, "info", got.Info, `{"os":"win"}`)
	if !slices.Equal(got.Tags, []string{"a", "b"}) {
		t.Fatalf("tags %v", got.Tags)
	}
	mustIs(t, s.UpdateWorkerInfo(ctx, 9999, nil, nil), store.ErrNotFound)
	mustIs(t, s.TouchWorker(ctx, 9999, store.WorkerIdle, t0), store.ErrNotFound)

	must(t, s.TouchWorker(ctx, w2.ID, store.WorkerBusy, at(time.Hour)))
	off, err := s.MarkOffline(ctx, at(30*time.Minute))
	must(t, err)
	if !slices.Equal(off, []int64{w.ID}) {
		t.Fatalf("offline %v", off)
	}
	off, err = s.MarkOffline(ctx, at(30*time.Minute))
	must(t, err)
	eq(t, "already offline", len(off), 0)
	got, err = s.GetWorker(ctx, w.ID)
	must(t, err)
	eq(t, "status", got.Status, store.WorkerOffline)

	must(t, s.DeleteWorker(ctx, w.ID))
	_, err = s.GetWorker(ctx, w.ID)
	mustIs(t, err, store.ErrNotFound)
	mustIs(t, s.DeleteWorker(ctx, w.ID), store.ErrNotFound)
}

func testSchedules(t *testing.T, s store.Store) {
	ctx := context.Background()
	next := at(time.Minute)
	sc, err := s.CreateSchedule(ctx, store.Schedule{AccountID: 1, Name: "nightly", Cron: "0 0 2 * * ?",
		Timezone: "UTC", Enabled: true, Template: json.RawMessage(`{"kind":"render"}`), NextRun: &next}, t0)
	must(t, err)
	if sc.ID == 0 || !sc.Enabled || sc.LastRun != nil || !sc.CreatedAt.Equal(t0) {
		t.Fatalf("created %+v", sc)
	}
	timeEq(t, "next", sc.NextRun, &next)
	off, err := s.CreateSchedule(ctx, store.Schedule{AccountID: 2, Name: "off", Cron: "* * * * * ?", NextRun: &next}, t0)
	must(t, err)
	_, err = s.CreateSchedule(ctx, store.Schedule{AccountID: 2, Name: "never", Cron: "* * * * * ?", Enabled: true}, t0)
	must(t, err)

	for _, tc := range []struct {
		account int64
		want    int
	}{{0, 3}, {1, 1}, {2, 2}, {3, 0}} {
		ss, err := s.ListSchedules(ctx, tc.account)
		must(t, err)
		eq(t, "schedules", len(ss), tc.want)
	}
	due, err := s.DueSchedules(ctx, at(30*time.Second), 10)
	must(t, err)
	eq(t, "due early", len(due), 0)
	due, err = s.DueSchedules(ctx, next, 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != sc.ID {
		t.Fatalf("due %+v", due)
	}

	// Two processes race to fire the same run: exactly one wins.
	next2 := at(2 * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 4 {
		wg.Go(func() {
			ok, err := s.AdvanceSchedule(ctx, sc.ID, next, next, &next2)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	eq(t, "winners", wins, 1)
	got, err := s.GetSchedule(ctx, sc.ID)
	must(t, err)
	timeEq(t, "next run", got.NextRun, &next2)
	timeEq(t, "last run", got.LastRun, &next)
	ok, err := s.AdvanceSchedule(ctx, sc.ID, next2, next2, nil)
	must(t, err)
	eq(t, "advanced to the end", ok, true)
	got, err = s.GetSchedule(ctx, sc.ID)
	must(t, err)
	timeEq(t, "no next run", got.NextRun, nil)

	off.Enabled, off.Name, off.Cron = true, "on", "0 * * * * ?"
	must(t, s.UpdateSchedule(ctx, off, at(time.Second)))
	got, err = s.GetSchedule(ctx, off.ID)
	must(t, err)
	if !got.Enabled || got.Name != "on" || got.Cron != "0 * * * * ?" || !got.UpdatedAt.Equal(at(time.Second)) {
		t.Fatalf("updated %+v", got)
	}
	due, err = s.DueSchedules(ctx, at(time.Hour), 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != off.ID {
		t.Fatalf("due after update %+v", due)
	}
	mustIs(t, s.UpdateSchedule(ctx, store.Schedule{ID: 9999}, t0), store.ErrNotFound)
	must(t, s.DeleteSchedule(ctx, off.ID))
	_, err = s.GetSchedule(ctx, off.ID)
	mustIs(t, err, store.ErrNotFound)
	mustIs(t, s.DeleteSchedule(ctx, off.ID), store.ErrNotFound)
}

func testRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(r store.Record) store.Record {
		t.Helper()
		out, err := s.PutRecord(ctx, r, t0)
		must(t, err)
		return out
	}
	label := put(store.Record{AccountID: 1, Kind: "render.label", Key: "red", Data: json.RawMessage(`{"c":"#f00"}`)})
	if label.ID == 0 || !label.CreatedAt.Equal(t0) {
		t.Fatalf("put %+v", label)
	}
	put(store.Record{AccountID: 1, Kind: "render.label", Key: "blue"})
	put(store.Record{AccountID: 2, Kind: "render.label", Key: "red"})   // other account
	put(store.Record{AccountID: 1, Kind: "rpa.department", Key: "red"}) // other kind
	put(store.Record{AccountID: 1, Kind: "render.label"})               // empty keys never clash
	put(store.Record{AccountID: 1, Kind: "render.label"})
	child := put(store.Record{AccountID: 1, Kind: "render.label", Key: "red-dark", ParentID: label.ID})
	_, err := s.PutRecord(ctx, store.Record{AccountID: 1, Kind: "render.label", Key: "red"}, t0)
	mustIs(t, err, store.ErrConflict)
	child.Key = "blue"
	_, err = s.PutRecord(ctx, child, t0)
	mustIs(t, err, store.ErrConflict)

	label.Data = json.RawMessage(`{"c":"#e00"}`)
	upd, err := s.PutRecord(ctx, label, at(time.Minute))
	must(t, err)
	if upd.ID != label.ID || !upd.UpdatedAt.Equal(at(time.Minute)) || !upd.CreatedAt.Equal(t0) {
		t.Fatalf("updated %+v", upd)
	}
	got, err := s.GetRecordByKey(ctx, 1, "render.label", "red")
	must(t, err)
	jsonEq(t, "data", got.Data, `{"c":"#e00"}`)
	got, err = s.GetRecord(ctx, child.ID)
	must(t, err)
	eq(t, "parent", got.ParentID, label.ID)
	_, err = s.GetRecordByKey(ctx, 1, "render.label", "green")
	mustIs(t, err, store.ErrNotFound)
	_, err = s.PutRecord(ctx, store.Record{ID: 9999, Kind: "x"}, t0)
	mustIs(t, err, store.ErrNotFound)

	cases := []struct {
		name  string
		f     store.RecordFilter
		want  int
		total int
	}{
		{"everything", store.RecordFilter{ParentID: -1}, 7, 7},
		{"top level", store.RecordFilter{}, 6, 6},
		{"account and kind", store.RecordFilter{AccountIDs: []int64{1}, Kind: "render.label", ParentID: -1}, 5, 5},
		{"children", store.RecordFilter{ParentID: label.ID}, 1, 1},
		{"key prefix", store.RecordFilter{KeyPrefix: "red", ParentID: -1}, 4, 4},
		{"key prefix is case sensitive and literal", store.RecordFilter{KeyPrefix: "R%", ParentID: -1}, 0, 0},
		{"page", store.RecordFilter{ParentID: -1, Limit: 3, Offset: 5}, 2, 7},
	}
	for _, tc := range cases {
		rs, total, err := s.ListRecords(ctx, tc.f)
		must(t, err)
		if len(rs) != tc.want || total != tc.total {
			t.Fatalf("%s: %d records, total %d; want %d, %d", tc.name, len(rs), total, tc.want, tc.total)
		}
	}
	must(t, s.DeleteRecord(ctx, label.ID))
	_, err = s.GetRecord(ctx, label.ID)
	mustIs(t, err, store.ErrNotFound)
	mustIs(t, s.DeleteRecord(ctx, label.ID), store.ErrNotFound)
	// The key is free again.
	put(store.Record{AccountID: 1, Kind: "render.label", Key: "red"})
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	var es []store.Event
	for i := range 10 {
		es = append(es, store.Event{At: at(time.Duration(i) * time.Second), AccountID: int64(1 + i%2), JobID: int64(i % 3),
			UnitID: int64(i), WorkerID: 7, Type: "unit.done", Data: json.RawMessage(`{"i":1}`)})
	}
	must(t, s.AppendEvents(ctx, es[:4]))
	must(t, s.AppendEvents(ctx, es[4:]))
	must(t, s.AppendEvents(ctx, nil))
	got, err := s.ListEvents(ctx, store.EventFilter{})
	must(t, err)
	eq(t, "events", len(got), 10)
	for i, e := range got {
		if e.ID == 0 || e.UnitID != int64(i) || !e.At.Equal(es[i].At) || e.Type != "unit.done" || e.WorkerID != 7 {
			t.Fatalf("event %d: %+v", i, e)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Fatal("events out of order")
		}
	}
	jsonEq(t, "data", got[0].Data, `{"i":1}`)
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want int
	}{
		{"account", store.EventFilter{AccountID: 2}, 5},
		{"job", store.EventFilter{JobID: 1}, 3},
		{"account and job", store.EventFilter{AccountID: 2, JobID: 1}, 2},
		{"after", store.EventFilter{AfterID: got[6].ID}, 3},
		{"limit", store.EventFilter{AfterID: got[1].ID, Limit: 2}, 2},
	} {
		l, err := s.ListEvents(ctx, tc.f)
		must(t, err)
		eq(t, tc.name, len(l), tc.want)
	}
}

func testLeadership(t *testing.T, s store.Store) {
	ctx := context.Background()
	steps := []struct {
		name   string
		holder string
		now    time.Time
		want   bool
	}{
		{"a takes", "a", t0, true},
		{"b refused", "b", at(5 * time.Second), false},
		{"a renews", "a", at(8 * time.Second), true},
		{"b refused before renewed term ends", "b", at(15 * time.Second), false},
		{"b takes after expiry", "b", at(18 * time.Second), true},
		{"a refused now", "a", at(19 * time.Second), false},
	}
	for _, st := range steps {
		ok, err := s.TryLead(ctx, "sweeper", st.holder, 10*time.Second, st.now)
		must(t, err)
		if ok != st.want {
			t.Fatalf("%s: %v", st.name, ok)
		}
	}
	ok, err := s.TryLead(ctx, "other", "a", 10*time.Second, at(19*time.Second))
	must(t, err)
	eq(t, "independent names", ok, true)
	must(t, s.Resign(ctx, "sweeper", "a")) // not the holder: no effect
	ok, err = s.TryLead(ctx, "sweeper", "a", 10*time.Second, at(20*time.Second))
	must(t, err)
	eq(t, "after a wrong resign", ok, false)
	must(t, s.Resign(ctx, "sweeper", "b"))
	ok, err = s.TryLead(ctx, "sweeper", "a", 10*time.Second, at(20*time.Second))
	must(t, err)
	eq(t, "after resign", ok, true)

	// Many contenders at once: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 6 {
		wg.Go(func() {
			ok, err := s.TryLead(ctx, "race", string(rune('a'+i)), time.Minute, t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	eq(t, "race winners", wins, 1)
}

func testInTx(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	var jobID int64
	err := s.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.CreateAccount(ctx, store.Account{Name: "rolled-back", CreatedAt: t0}); err != nil {
			return err
		}
		j, err := tx.CreateJob(ctx, store.Job{AccountID: 1}, mkUnits(3, "tx"), t0)
		if err != nil {
			return err
		}
		jobID = j.ID
		// The transaction sees its own writes.
		if _, err := tx.GetJob(ctx, j.ID); err != nil {
			return err
		}
		// A nested InTx joins the outer transaction.
		return tx.InTx(ctx, func(inner store.Store) error {
			if _, err := inner.PatchJob(ctx, j.ID, store.JobPatch{Name: ptr("inner")}, t0); err != nil {
				return err
			}
			return boom
		})
	})
	mustIs(t, err, boom)
	_, err = s.GetAccountByName(ctx, "rolled-back")
	mustIs(t, err, store.ErrNotFound)
	_, err = s.GetJob(ctx, jobID)
	mustIs(t, err, store.ErrNotFound)
	eq(t, "queue after rollback", len(lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"tx"}})), 0)

	err = s.InTx(ctx, func(tx store.Store) error {
		j, err := tx.CreateJob(ctx, store.Job{AccountID: 1}, mkUnits(2, "tx"), t0)
		if err != nil {
			return err
		}
		jobID = j.ID
		us, err := tx.Lease(ctx, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"tx"}, Max: 1, LeaseFor: time.Minute, Now: t0})
		if err != nil || len(us) != 1 {
			return errors.Join(err, errors.New("lease in tx"))
		}
		return tx.AppendEvents(ctx, []store.Event{{At: t0, JobID: j.ID, Type: "job.created"}})
	})
	must(t, err)
	counts, err := s.UnitCounts(ctx, []int64{jobID})
	must(t, err)
	if counts[jobID][store.UnitRunning] != 1 || counts[jobID][store.UnitQueued] != 1 {
		t.Fatalf("committed counts %v", counts[jobID])
	}
	es, err := s.ListEvents(ctx, store.EventFilter{JobID: jobID})
	must(t, err)
	eq(t, "committed events", len(es), 1)

	// A panic rolls back too.
	func() {
		defer func() { _ = recover() }()
		_ = s.InTx(ctx, func(tx store.Store) error {
			if _, err := tx.CreateAccount(ctx, store.Account{Name: "panicked", CreatedAt: t0}); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	_, err = s.GetAccountByName(ctx, "panicked")
	mustIs(t, err, store.ErrNotFound)
}
