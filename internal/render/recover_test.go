package render

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// TestAnalysisTakenOver: a task left in ANALYSE (50) by a server that stopped is analysed again by
// the next server, both after a shutdown in the middle of the analysis and after a crash (its
// mark's deadline passed).
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
		}
		if err := e.api.Close(); err != nil {
			t.Fatal(err)
		}
		// A crash leaves its mark as it was while analysing: the deadline passed long ago here.
		shell, err := e.st.GetJob(e.ctx, crashed)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.api.markAnalysis(e.ctx, shell, time.Now().Add(-time.Minute).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		// One more task whose analysis another live server runs (deadline ahead): left alone.
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
		if _, err := e.st.PatchJob(e.ctx, busy, store.JobPatch{Spec: mustJSON(st)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := e.api.markAnalysis(e.ctx, bshell, time.Now().Add(time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}

		// The next server, without Blender: it takes the lost analyses over from task.json.
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
		for id, frames := range map[int64]int{stopped: 3, crashed: 4} {
			ti := e.waitStatus(cl, id, 10*time.Second, StatusWaiting)
			if ti.TotalFrames != frames || len(ti.RespRenderingTaskList) != 1 {
				t.Fatalf("task %d after the takeover: %+v", id, ti)
			}
		}
		if ti := e.info(cl, busy); ti.TaskStatus != StatusAnalyse {
			t.Fatalf("an analysis another server runs was taken over: %+v", ti)
		}
		recs, _, err := e.st.ListRecords(e.ctx, store.RecordFilter{Kind: recAnalysis, ParentID: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].ParentID != busy {
			t.Fatalf("analysis marks left: %+v", recs)
		}
	})
}
