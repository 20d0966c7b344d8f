package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/auth"
	"taskcenter/internal/blendertest"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// TestEndToEndBlender runs the whole farm over real HTTP: the lead's server with the agent protocol and
// this facade, an engine with its sweeps, two agents rendering with Blender, and a client speaking the
// signed dialect.
// farm is the whole system over real HTTP: the lead's server with the agent protocol and this facade,
// an engine with its sweeps, and a client speaking the signed dialect. Agents are started on demand.
type farm struct {
	*testEnv
	url    string
	enroll string
}

func newFarm(t *testing.T, open func(testing.TB) store.Store) *farm {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := open(t)
	log := testLog()
	eng := engine.New(st, engine.Config{Holder: "test", SweepEvery: 200 * time.Millisecond, RetryBase: 50 * time.Millisecond,
		AvoidFor: 10 * time.Millisecond, IdleRecheck: 100 * time.Millisecond, Heartbeat: time.Second}, log, nil)
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := auth.NewKeyring(bytes.Repeat([]byte{9}, 32))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	api, err := New(Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log, PublicURL: url, RecoverEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log, Registry: prometheus.NewRegistry()}, api)
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv}}
	hs.Start()
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	// Cleanups run last-in first-out: stop agents and the engine, then the facade, then HTTP.
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = api.Close() })
	t.Cleanup(func() { cancel(); <-done })

	admin, err := st.CreateAccount(ctx, store.Account{Name: "admin", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	enroll, _, err := auth.IssueToken(ctx, st, admin.ID, store.CredAgent, "test agents", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, ctx: ctx, st: st, eng: eng, blobs: blobs, keys: keys, api: api, srv: hs}
	e.acct, e.cl = e.newAccount("studio", 0)
	if err := UpdateSettings(ctx, st, e.acct.ID, func(s *Settings) { s.CPUPrice = 3600 }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AdjustFunds(ctx, e.acct.ID, store.FundsDelta{BalanceMilli: 1_000_000}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	return &farm{testEnv: e, url: url, enroll: enroll}
}

// agents starts n agents with the default executors (Blender among them), one slot each.
func (f *farm) agents(n int) {
	for i := range n {
		cfg := agent.Config{ServerURL: f.url, Token: f.enroll, Name: "node-" + strconv.Itoa(i), WorkDir: f.t.TempDir(), Slots: 1,
			Executors: executor.Defaults(), LeaseWaitSeconds: 1, ProgressInterval: 200 * time.Millisecond,
			BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second}
		go func() { _ = agent.Run(f.ctx, cfg, testLog().With("agent", i)) }()
	}
}

// scene generates a Blender test scene and returns its bytes.
func (f *farm) scene(opts blendertest.Options) []byte {
	f.t.Helper()
	p, err := blendertest.Scene(f.ctx, f.t.TempDir(), opts)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// TestEndToEndBlender runs the whole farm over real HTTP: the lead's server with the agent protocol and
// this facade, an engine with its sweeps, two agents rendering with Blender, and a client speaking the
// signed dialect.
func TestEndToEndBlender(t *testing.T) {
	blendertest.Require(t)
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFarm(t, open)
		e, ctx, eng, url := f.testEnv, f.ctx, f.eng, f.url

		scene := f.scene(blendertest.Options{Frames: 3, Width: 160, Height: 120, Samples: 4})
		// A frame is made to fail before any agent runs: a fake node takes it and reports it broken.
		id := e.newTask(e.cl, scene, nil, nil) // no scene_info: the server analyses the .blend
		ti := e.waitStatus(e.cl, id, time.Minute, StatusWaiting)
		if ti.TotalFrames != 3 {
			t.Fatalf("analysis found %d frames, want 3", ti.TotalFrames)
		}
		fake := e.worker("blender")
		u := fake.lease(1)
		if err := eng.Fail(ctx, engineFailure(u[0])); err != nil {
			t.Fatal(err)
		}

		f.agents(2)
		ti = e.waitStatus(e.cl, id, 3*time.Minute, StatusFinishedFail)
		if ti.DoneFrames != 2 || ti.FailedFrames != 1 {
			t.Fatalf("with a failed frame: %+v", ti)
		}
		e.call(e.cl, "/api/render/task/restartFailedFrames", map[string]any{"taskIds": []int64{id}}, nil)
		ti = e.waitStatus(e.cl, id, 3*time.Minute, StatusFinished)
		if len(ti.RespRenderingTaskList) != 1 || ti.RespRenderingTaskList[0].TaskStatus != StatusFinished || ti.DoneFrames != 3 || ti.RenderConsume <= 0 {
			t.Fatalf("finished: %+v", ti)
		}
		var frames struct {
			Total int              `json:"total"`
			Items []map[string]any `json:"items"`
		}
		e.call(e.cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "pageNum": 1, "pageSize": 10}, &frames)
		if frames.Total != 3 {
			t.Fatalf("frames: %d", frames.Total)
		}
		for _, f := range frames.Items {
			if f["frameStatus"] != 4.0 {
				t.Fatalf("frame not done: %v", f)
			}
		}
		var proc struct {
			Grab [][]map[string]string `json:"grabInfo"`
		}
		e.call(e.cl, "/api/render/task/loadTaskProcessImg", map[string]any{"taskId": id}, &proc)
		_, img := e.get(proc.Grab[0][0]["grabUrl"], nil)
		w0, h0 := decodePNG(t, img)
		if w0 != 160 || h0 != 120 {
			t.Fatalf("frame is %dx%d, want 160x120", w0, h0)
		}
		var thumbs []string
		e.call(e.cl, "/api/render/task/loadingFrameThumbnail", map[string]any{"id": frames.Items[0]["id"], "frameStatus": 4}, &thumbs)
		if len(thumbs) != 1 {
			t.Fatalf("thumbnails: %v", thumbs)
		}
		_, th := e.get(thumbs[0], nil)
		decodePNG(t, th)

		// Tiles: four blocks on different nodes, stitched to the untiled frame's size.
		tid := e.newTask(e.cl, scene, map[string]string{"tiles": "4"}, map[string]string{"frames": "2"})
		ti = e.waitStatus(e.cl, tid, 3*time.Minute, StatusFinished)
		if ti.TotalFrames != 4 {
			t.Fatalf("tiled task has %d units", ti.TotalFrames)
		}
		key := e.transferKey(e.cl)
		var list struct {
			Files []map[string]any `json:"files"`
		}
		// Outputs are published by the job-finished hook, just after the status is visible.
		var lb []byte
		outputs := func(id int64, want int) func() error {
			return func() error {
				_, lb = e.get(url+transferPrefix+"/list?prefix=/output/"+strconv.FormatInt(id, 10), map[string]string{"userKey": key})
				list.Files = nil
				_ = json.Unmarshal(lb, &list)
				if len(list.Files) < want {
					return fmt.Errorf("%d outputs of task %d, want %d: %s", len(list.Files), id, want, lb)
				}
				return nil
			}
		}
		testutil.Eventually(t, 10*time.Second, outputs(tid, 1))
		if len(list.Files) != 1 {
			t.Fatalf("stitched outputs: %s", lb)
		}
		_, full := e.get(url+transferPrefix+"/files?path="+list.Files[0]["path"].(string), map[string]string{"userKey": key})
		if w, h := decodePNG(t, full); w != w0 || h != h0 {
			t.Fatalf("stitched %dx%d, untiled %dx%d", w, h, w0, h0)
		}

		// frames_per_task: one unit renders the three frames in one Blender run, one output each.
		gid := e.newTask(e.cl, scene, map[string]string{"frames_per_task": "3"}, nil)
		ti = e.waitStatus(e.cl, gid, 3*time.Minute, StatusFinished)
		if ti.TotalFrames != 1 || ti.DoneFrames != 1 {
			t.Fatalf("grouped task: %+v", ti)
		}
		// The outputs are published one by one after the child finishes: wait for all three.
		testutil.Eventually(t, 10*time.Second, outputs(gid, 3))
		if len(list.Files) != 3 {
			t.Fatalf("grouped outputs: %s", lb)
		}
		hashes := map[string]bool{}
		for _, file := range list.Files {
			_, img := e.get(url+transferPrefix+"/files?path="+file["path"].(string), map[string]string{"userKey": key})
			if w, h := decodePNG(t, img); w != w0 || h != h0 {
				t.Fatalf("%s is %dx%d", file["path"], w, h)
			}
			hashes[file["hash"].(string)] = true
		}
		if len(hashes) != 3 {
			t.Fatalf("the three frames are not three different images: %s", lb)
		}
	})
}

// frameList returns every frame of a task (queryTaskFrames).
func (e *testEnv) frameList(cl *Client, id int64) []map[string]any {
	e.t.Helper()
	var frames struct {
		Total int              `json:"total"`
		Items []map[string]any `json:"items"`
	}
	e.call(cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "pageNum": 1, "pageSize": 1000}, &frames)
	if len(frames.Items) != frames.Total {
		e.t.Fatalf("queryTaskFrames %d: %d items of %d", id, len(frames.Items), frames.Total)
	}
	return frames.Items
}

// frameStatuses counts a task's frames by frameStatus.
func (e *testEnv) frameStatuses(cl *Client, id int64) map[int]int {
	e.t.Helper()
	out := map[int]int{}
	for _, f := range e.frameList(cl, id) {
		out[int(f["frameStatus"].(float64))]++
	}
	return out
}

// TestEndToEndBlenderControls shows each control of the dialect on a task that agents really render
// with Blender: stop and start, abort, delete, the overtime stop and the arrears stop. It runs on
// SQLite only, to keep the package's test time down: the controls are engine code that TestLifecycle
// drives on both drivers, and TestEndToEndBlender renders on both.
func TestEndToEndBlenderControls(t *testing.T) {
	blendertest.Require(t)
	d := drivers.All()[0]
	t.Run(d.Name, func(t *testing.T) { testControlsBlender(t, d.Open) })
}

func testControlsBlender(t *testing.T, open func(testing.TB) store.Store) {
	f := newFarm(t, open)
	e := f.testEnv
	// Frames of about a second each; enough of them that a control lands while the task renders.
	scene := f.scene(blendertest.Options{Frames: 5, Width: 160, Height: 120, Samples: 4})
	// A frame that cannot finish inside a one-second limit: thousands of samples.
	slow := f.scene(blendertest.Options{Frames: 1, Width: 160, Height: 120, Samples: 20000, Name: "slow.blend"})
	f.agents(2)

	// Stop while rendering: nothing runs any more and the frames wait (3); start: it finishes.
	id := e.newTask(e.cl, scene, nil, nil)
	e.waitStatus(e.cl, id, 2*time.Minute, StatusRendering)
	e.call(e.cl, "/api/render/task/stopTask", map[string]any{"taskIds": []int64{id}}, nil)
	ti := e.waitStatus(e.cl, id, 10*time.Second, StatusStop)
	if ti.DoneFrames == ti.TotalFrames {
		t.Fatalf("the task finished before it could be stopped: %+v", ti)
	}
	fs := e.frameStatuses(e.cl, id)
	if fs[FrameRunning] != 0 || fs[FrameStopped] == 0 {
		t.Fatalf("frames of a stopped task: %v", fs)
	}
	e.call(e.cl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id}}, nil)
	ti = e.waitStatus(e.cl, id, 2*time.Minute, StatusFinished)
	if ti.DoneFrames != 5 || ti.TotalFrames != 5 {
		t.Fatalf("started again and finished: %+v", ti)
	}

	// Abort while rendering: the frames not done are cancelled (35); then a soft delete.
	id2 := e.newTask(e.cl, scene, nil, nil)
	e.waitStatus(e.cl, id2, 2*time.Minute, StatusRendering)
	e.call(e.cl, "/api/render/task/abortTask", map[string]any{"taskIds": []int64{id2}}, nil)
	ti = e.waitStatus(e.cl, id2, 10*time.Second, StatusAbandon)
	if ti.AbortFrames == 0 || ti.AbortFrames+ti.DoneFrames != 5 || ti.RespRenderingTaskList[0].TaskStatus != StatusAbandon {
		t.Fatalf("aborted: %+v", ti)
	}
	if fs := e.frameStatuses(e.cl, id2); fs[FrameRunning] != 0 || fs[FrameStopped] != ti.AbortFrames {
		t.Fatalf("frames of an aborted task: %v", fs)
	}
	e.call(e.cl, "/api/render/task/deleteTask", map[string]any{"taskIds": []int64{id2}}, nil)
	if ti = e.info(e.cl, id2); ti.IsDelete != 0 {
		t.Fatalf("isDelete after deleteTask: %d", ti.IsDelete)
	}
	var list struct {
		Items []taskInfo `json:"items"`
	}
	e.call(e.cl, "/api/render/task/getTaskList", map[string]any{"pageNum": 1, "pageSize": 100}, &list)
	if len(list.Items) != 1 || list.Items[0].ID != id {
		t.Fatalf("task list after deleting %d: %+v", id2, list.Items)
	}

	// Overtime stop, set while the task is still being analysed: the frame is stopped when it runs
	// past one second (11) and the task shows TIME_OUT_STOP (23).
	id3 := e.newTask(e.cl, slow, nil, nil)
	e.call(e.cl, "/api/render/task/setOverTimeStop", map[string]any{"taskIds": []int64{id3}, "overTime": 1}, nil)
	ti = e.waitStatus(e.cl, id3, 2*time.Minute, StatusTimeoutStop)
	if ti.RespRenderingTaskList[0].TaskStatus != StatusTimeoutStop || ti.FailedFrames != 1 {
		t.Fatalf("overtime stop: %+v", ti)
	}
	if fs := e.frameStatuses(e.cl, id3); fs[FrameTimedOut] != 1 {
		t.Fatalf("frame past its limit: %v", fs)
	}

	// Arrears: an account that can pay for almost nothing is stopped (20) with the debt recorded,
	// refused a start while it has no funds, and restarts by itself once topped up.
	poor, pcl := e.newAccount("poor", 0)
	if err := UpdateSettings(e.ctx, e.st, poor.ID, func(s *Settings) { s.CPUPrice = 3600 }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.AdjustFunds(e.ctx, poor.ID, store.FundsDelta{BalanceMilli: 1}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	id4 := e.newTask(pcl, scene, nil, map[string]string{"frames": "1-3"})
	ti = e.waitStatus(pcl, id4, 2*time.Minute, StatusArrears)
	if ti.TaskArrears <= 0 || ti.RenderConsume <= ti.TaskArrears || ti.UserAccountConsume != 0.001 {
		t.Fatalf("arrears stop: %+v", ti)
	}
	if c := e.code(pcl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id4}}); c != CodeNoPermission {
		t.Fatalf("start without funds: %d", c)
	}
	if _, _, err := e.st.AdjustFunds(e.ctx, poor.ID, store.FundsDelta{BalanceMilli: 1_000_000}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	ti = e.waitStatus(pcl, id4, 2*time.Minute, StatusFinished)
	if ti.DoneFrames != 3 || ti.TaskArrears != 0 || ti.UserAccountConsume != ti.RenderConsume {
		t.Fatalf("after the top-up, the debt settled: %+v", ti)
	}
}
