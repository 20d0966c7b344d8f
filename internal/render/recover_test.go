package render

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
)

// TestAnalysisTakenOver: a task left in ANALYSE (50) by a server that stopped is analysed again by
// the next server, both after a shutdown in the middle of the analysis (its unit handed back) and
// after a crash (the unit's lease ran out and the engine's sweep took it back). An analysis a live
// server holds is left alone.
func TestAnalysisTakenOver(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		// The first server's Blender never answers, so its analyses are in progress when it stops.
		hang := filepath.Join(t.TempDir(), "blender")
		if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 120\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, open, Config{Blender: hang})
		common := map[string]string{"frames": "1-3", "width": "64", "height": "48"}
		stopped := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, common)
		crashed := e.newTask(e.cl, []byte("BLENDER-v304 other scene"), nil, map[string]string{"frames": "2-5"})
		for _, id := range []int64{stopped, crashed} {
			e.waitStatus(e.cl, id, 5*time.Second, StatusAnalyse)
			e.analysisUnit(id, store.UnitRunning)
		}
		if err := e.api.Close(); err != nil {
			t.Fatal(err)
		}
		// The shutdown handed both analyses back. A crash hands nothing back: the crashed task's
		// analysis is leased again, as by a server that then died.
		lease := func(id int64, worker string, leaseFor time.Duration) {
			t.Helper()
			w, err := e.st.RegisterWorker(e.ctx, store.Worker{Name: worker, Kind: engine.WorkerKindInProcess, Capabilities: []string{capAnalyse}}, e.eng.Now())
			if err != nil {
				t.Fatal(err)
			}
			j, _ := e.analysisJob(id)
			units, err := e.st.Lease(e.ctx, store.LeaseRequest{WorkerID: w.ID, Capabilities: w.Capabilities, JobID: j.ID, Max: 1,
				LeaseFor: leaseFor, Now: e.eng.Now()})
			if err != nil || len(units) != 1 {
				t.Fatalf("lease the analysis of task %d: %v, %v", id, units, err)
			}
		}
		lease(crashed, "dead server", e.eng.Config().LeaseFor)
		// One more task whose analysis another live server runs (its heartbeats keep the lease ahead):
		// left alone.
		var created struct {
			IDs []int64 `json:"taskIdList"`
		}
		e.call(e.cl, "/api/render/task/createTask", nil, &created)
		busy := created.IDs[0]
		bshell, err := e.st.GetJob(e.ctx, busy)
		if err != nil {
			t.Fatal(err)
		}
		st := stateOf(bshell)
		st.State = stateAnalysing
		if _, err := e.eng.SubmitWith(e.ctx, e.api.analysisJob(bshell, e.acct.ID, "busy"), func(tx engine.Tx, _ store.Job) error {
			_, err := tx.UpdateJob(e.ctx, busy, engine.JobChange{Spec: mustJSON(st)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		lease(busy, "live server", time.Hour)

		// The next server, without Blender: it takes the lost analyses over from task.json, the
		// crashed one once its lease has run out and the leader's sweep took it back.
		api2, err := New(Config{Engine: e.eng, Store: e.st, Blobs: e.blobs, Keyring: e.keys, Log: testLog(),
			Blender: "blender-not-installed-here"})
		if err != nil {
			t.Fatal(err)
		}
		defer api2.Close()
		mux := http.NewServeMux()
		api2.Mount(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		cl := e.cl.Clone()
		cl.BaseURL = srv.URL
		e.waitStatus(cl, stopped, 10*time.Second, StatusWaiting)
		if ti := e.info(cl, crashed); ti.TaskStatus != StatusAnalyse {
			t.Fatalf("an analysis whose lease is still running was taken over: %+v", ti)
		}
		e.clk.Advance(e.eng.Config().LeaseFor + time.Second)
		if err := e.eng.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		for id, frames := range map[int64]int{stopped: 3, crashed: 4} {
			ti := e.waitStatus(cl, id, 10*time.Second, StatusWaiting)
			if ti.TotalFrames != frames || len(ti.RespRenderingTaskList) != 1 {
				t.Fatalf("task %d after the takeover: %+v", id, ti)
			}
		}
		if ti := e.info(cl, busy); ti.TaskStatus != StatusAnalyse {
			t.Fatalf("an analysis another server runs was taken over: %+v", ti)
		}
		// A task shows its children before its analysis unit's completion commits: wait for that.
		testutil.Eventually(t, 10*time.Second, func() error {
			jobs, _, err := e.st.ListJobs(e.ctx, store.JobFilter{Kind: KindAnalysis, WithDeleted: true})
			if err != nil {
				t.Fatal(err)
			}
			var under []int64
			for _, j := range jobs {
				if !j.Status.Terminal() {
					under = append(under, j.ParentID)
				}
			}
			if len(under) != 1 || under[0] != busy {
				return fmt.Errorf("analyses left under way, by task: %v", under)
			}
			return nil
		})
	})
}

// TestAnalysisOutOfAttempts: an analysis whose every attempt is lost with its server (one that
// crashes the server, say) ends: the task fails (45) with why, instead of staying in ANALYSE (50).
func TestAnalysisOutOfAttempts(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		// No server of this test runs analyses: each attempt is leased by a server that then dies.
		if err := e.api.Close(); err != nil {
			t.Fatal(err)
		}
		id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, map[string]string{"frames": "1-3"})
		dead, err := e.st.RegisterWorker(e.ctx, store.Worker{Name: "dying server", Kind: engine.WorkerKindInProcess,
			Capabilities: []string{capAnalyse}}, e.eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		for attempt := 1; attempt <= analysisAttempts; attempt++ {
			if ti := e.info(e.cl, id); ti.TaskStatus != StatusAnalyse {
				t.Fatalf("before attempt %d: status %d, want %d", attempt, ti.TaskStatus, StatusAnalyse)
			}
			units, err := e.st.Lease(e.ctx, store.LeaseRequest{WorkerID: dead.ID, Capabilities: dead.Capabilities, Max: 1,
				LeaseFor: e.eng.Config().LeaseFor, Now: e.eng.Now()})
			if err != nil || len(units) != 1 {
				t.Fatalf("attempt %d: leased %v, %v", attempt, units, err)
			}
			e.clk.Advance(e.eng.Config().LeaseFor + e.eng.Config().AvoidFor + time.Second)
			if err := e.eng.Sweep(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		ti := e.info(e.cl, id)
		if ti.TaskStatus != StatusFailed || !strings.Contains(ti.StatusInfo, "the scene analysis did not finish: lease expired") || ti.TotalFrames != 0 {
			t.Fatalf("after %d lost attempts: status %d (%s) with %d frames, want %d", analysisAttempts, ti.TaskStatus, ti.StatusInfo, ti.TotalFrames, StatusFailed)
		}
	})
}

// TestLegacyAnalysisAdopted: a task an older server left in ANALYSE (50) with its analysis mark is
// analysed by a server of this version once the mark's deadline passed (after a shutdown: at once);
// one whose older server still runs it (deadline ahead) is left to it.
func TestLegacyAnalysisAdopted(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		if err := e.api.Close(); err != nil {
			t.Fatal(err)
		}
		legacy := func(deadline int64) int64 {
			t.Helper()
			id := e.prepareTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, map[string]string{"frames": "1-3"})
			shell, err := e.st.GetJob(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			st := stateOf(shell)
			st.State = stateAnalysing
			if _, err := e.st.PatchJob(e.ctx, id, store.JobPatch{Spec: mustJSON(st)}, e.eng.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.PutRecord(e.ctx, store.Record{AccountID: shell.AccountID, Kind: recLegacyAnalysis,
				Key: strconv.FormatInt(id, 10), ParentID: id, Data: mustJSON(map[string]int64{"deadline": deadline})}, e.eng.Now()); err != nil {
				t.Fatal(err)
			}
			return id
		}
		freed, running := legacy(0), legacy(e.eng.Now().Add(time.Hour).UnixMilli())
		api2, err := New(Config{Engine: e.eng, Store: e.st, Blobs: e.blobs, Keyring: e.keys, Log: testLog(),
			Blender: "blender-not-installed-here"})
		if err != nil {
			t.Fatal(err)
		}
		defer api2.Close()
		if err := e.eng.RunService(e.ctx, legacyAnalysesService); err != nil {
			t.Fatal(err)
		}
		if ti := e.waitStatus(e.cl, freed, 10*time.Second, StatusWaiting); ti.TotalFrames != 3 {
			t.Fatalf("adopted analysis: %+v", ti)
		}
		if ti := e.info(e.cl, running); ti.TaskStatus != StatusAnalyse {
			t.Fatalf("an analysis an older server runs was taken over: %+v", ti)
		}
		recs, _, err := e.st.ListRecords(e.ctx, store.RecordFilter{Kind: recLegacyAnalysis, ParentID: -1})
		if err != nil || len(recs) != 1 || recs[0].ParentID != running {
			t.Fatalf("legacy marks left: %+v, %v", recs, err)
		}
	})
}
