package render

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
)

// gatedBlender writes a stand-in for Blender whose scene analysis waits until the file named on the
// scene's "GATE:" line exists, so that a test applies a control while the task shows ANALYSE (50).
func gatedBlender(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blender")
	script := `#!/bin/sh
gate=$(sed -n 's/^GATE://p' "$3")
while [ ! -e "$gate" ]; do sleep 0.02; done
echo '` + analyseMarker + `{"scene":"Scene","scenes":["Scene"],"frame_start":1,"frame_end":2,"frame_step":1,"camera":"Camera","cameras":["Camera"],"width":64,"height":48,"format":"PNG","engine":"CYCLES"}'
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// gatedScene is a scene whose analysis waits for gate to exist.
func gatedScene(gate string) []byte { return []byte("BLENDER-v304 fake scene\nGATE:" + gate + "\n") }

func openGate(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// analysisJob returns the task's analysis job (the last one, after a resubmission).
func (e *testEnv) analysisJob(id int64) (store.Job, bool) {
	e.t.Helper()
	jobs, _, err := e.st.ListJobs(e.ctx, store.JobFilter{Kind: KindAnalysis, ParentIDs: []int64{id}, WithDeleted: true})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(jobs) == 0 {
		return store.Job{}, false
	}
	return slices.MaxFunc(jobs, func(x, y store.Job) int { return cmp.Compare(x.ID, y.ID) }), true
}

// waitAnalysed waits until the task's analysis has ended (its analysis job is over).
func (e *testEnv) waitAnalysed(id int64) {
	e.t.Helper()
	testutil.Eventually(e.t, 10*time.Second, func() error {
		if j, ok := e.analysisJob(id); ok && j.Status.Terminal() {
			return nil
		}
		return fmt.Errorf("task %d: analysis still under way", id)
	})
}

// analysisUnit waits until the task's analysis unit has status want, and returns it.
func (e *testEnv) analysisUnit(id int64, want store.UnitStatus) store.Unit {
	e.t.Helper()
	var unit store.Unit
	testutil.Eventually(e.t, 10*time.Second, func() error {
		j, ok := e.analysisJob(id)
		if !ok {
			return fmt.Errorf("task %d: no analysis job", id)
		}
		units, _, err := e.st.ListUnits(e.ctx, store.UnitFilter{JobID: j.ID})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(units) != 1 || units[0].Status != want {
			return fmt.Errorf("task %d: analysis unit never %s", id, want)
		}
		unit = units[0]
		return nil
	})
	return unit
}

func (e *testEnv) frameStats(cl *Client) int {
	e.t.Helper()
	var fs struct {
		Total int `json:"totalFrames"`
	}
	e.call(cl, "/api/render/task/queryAllFrameStats", nil, &fs)
	return fs.Total
}

// TestControlsDuringAnalysis: abort, delete and stop applied while the scene is analysed (50) hold
// once the analysis ends: an aborted or deleted task gets no frames and costs nothing, a stopped one
// gets its frames stopped (10) until startTask; stop then start during the analysis renders as usual.
func TestControlsDuringAnalysis(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{Blender: gatedBlender(t)})
		if err := UpdateSettings(e.ctx, e.st, e.acct.ID, func(s *Settings) { s.CPUPrice = 3600 }); err != nil {
			t.Fatal(err)
		}
		e.topUp(1_000_000)
		w := e.worker("blender")
		dir := t.TempDir()
		cases := []struct {
			name     string
			controls []string // applied in order while the task is analysed
			during   int      // status shown after the controls, still in analysis
			after    int      // status once the analysis ended
			frames   int      // frames created
			listed   bool     // still in getTaskList
			rendered bool     // a worker renders it (after a startTask when stopped)
		}{
			{"abort", []string{"abortTask"}, StatusAbandon, StatusAbandon, 0, true, false},
			{"delete", []string{"deleteTask"}, StatusAbandon, StatusAbandon, 0, false, false},
			{"stop", []string{"stopTask"}, StatusStop, StatusStop, 2, true, true},
			{"stop then start", []string{"stopTask", "startTask"}, StatusAnalyse, StatusWaiting, 2, true, true},
			{"stop then abort", []string{"stopTask", "abortTask"}, StatusAbandon, StatusAbandon, 0, true, false},
			{"full speed", []string{"fullSpeed"}, StatusAnalyse, StatusWaiting, 2, true, true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				balance := e.balance()
				statsBefore := e.frameStats(e.cl)
				gate := filepath.Join(dir, "gate-"+strconv.Itoa(i))
				id := e.newTask(e.cl, gatedScene(gate), nil, map[string]string{"frames": "1-2"})
				e.waitStatus(e.cl, id, 5*time.Second, StatusAnalyse)
				for _, c := range tc.controls {
					e.call(e.cl, "/api/render/task/"+c, map[string]any{"taskIds": []int64{id}}, nil)
				}
				if ti := e.info(e.cl, id); ti.TaskStatus != tc.during {
					t.Fatalf("during the analysis after %v: status %d, want %d", tc.controls, ti.TaskStatus, tc.during)
				}
				openGate(t, gate)
				e.waitAnalysed(id)
				// The engine's abort cancelled the analysis of an aborted or deleted task.
				wantAnalysis := store.JobSucceeded
				if tc.frames == 0 {
					wantAnalysis = store.JobCancelled
				}
				if j, _ := e.analysisJob(id); j.Status != wantAnalysis {
					t.Fatalf("analysis job %s, want %s", j.Status, wantAnalysis)
				}
				ti := e.info(e.cl, id)
				if ti.TaskStatus != tc.after || ti.TotalFrames != tc.frames {
					t.Fatalf("after the analysis: status %d with %d frames, want %d with %d (%+v)", ti.TaskStatus, ti.TotalFrames, tc.after, tc.frames, ti)
				}
				if tc.controls[0] == "fullSpeed" {
					for _, k := range ti.RespRenderingTaskList {
						if k.TaskLevel < fullSpeedBoost {
							t.Fatalf("child of a task given full speed during its analysis: priority %d", k.TaskLevel)
						}
					}
				}
				if tc.controls[0] == "stopTask" && tc.frames > 0 {
					for _, k := range ti.RespRenderingTaskList {
						if k.TaskStatus != StatusStop && tc.after == StatusStop {
							t.Fatalf("child of a stopped task: %+v", k)
						}
					}
				}
				var list struct {
					Items []taskInfo `json:"items"`
				}
				e.call(e.cl, "/api/render/task/getTaskList", map[string]any{"pageNum": 1, "pageSize": 100}, &list)
				listed := false
				for _, it := range list.Items {
					listed = listed || it.ID == id
				}
				if listed != tc.listed {
					t.Fatalf("listed %v, want %v", listed, tc.listed)
				}
				if tc.after == StatusStop {
					if units := w.lease(10); len(units) != 0 {
						t.Fatalf("a stopped task's frame was leased: %+v", units)
					}
					e.call(e.cl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id}}, nil)
				}
				n := w.drain(1)
				if tc.rendered != (n == tc.frames && n > 0) {
					t.Fatalf("rendered %d frames, want rendered=%v", n, tc.rendered)
				}
				if !tc.rendered {
					if got := e.balance(); got != balance {
						t.Fatalf("balance %d after the task, was %d", got, balance)
					}
					if got := e.frameStats(e.cl); got != statsBefore {
						t.Fatalf("queryAllFrameStats counts %d frames, was %d", got, statsBefore)
					}
					return
				}
				e.waitStatus(e.cl, id, 5*time.Second, StatusFinished)
			})
		}
	})
}

// TestControlsDuringLostAnalysis: a control applied to a task whose analysis was interrupted by a
// shutdown holds when the next server takes the analysis over.
func TestControlsDuringLostAnalysis(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{Blender: gatedBlender(t)})
		never := filepath.Join(t.TempDir(), "never")
		ids := map[string]int64{}
		for _, c := range []string{"abortTask", "deleteTask", "stopTask"} {
			id := e.newTask(e.cl, gatedScene(never), nil, map[string]string{"frames": "1-3"})
			e.waitStatus(e.cl, id, 5*time.Second, StatusAnalyse)
			e.call(e.cl, "/api/render/task/"+c, map[string]any{"taskIds": []int64{id}}, nil)
			ids[c] = id
		}
		if err := e.api.Close(); err != nil {
			t.Fatal(err)
		}
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
		for _, id := range ids {
			e.waitAnalysed(id)
		}
		want := map[string]struct{ status, frames int }{
			"abortTask": {StatusAbandon, 0}, "deleteTask": {StatusAbandon, 0}, "stopTask": {StatusStop, 3},
		}
		for c, id := range ids {
			if ti := e.info(cl, id); ti.TaskStatus != want[c].status || ti.TotalFrames != want[c].frames {
				t.Errorf("%s during a lost analysis: status %d with %d frames, want %d with %d", c, ti.TaskStatus, ti.TotalFrames, want[c].status, want[c].frames)
			}
		}
		if units := e.worker("blender").lease(10); len(units) != 0 {
			t.Fatalf("frames of controlled tasks were leased: %s", fmt.Sprint(units))
		}
	})
}
