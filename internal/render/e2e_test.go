package render

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// TestEndToEndBlender runs the whole farm over real HTTP: the lead's server with the agent protocol and
// this facade, an engine with its sweeps, two agents rendering with Blender, and a client speaking the
// signed dialect.
func TestEndToEndBlender(t *testing.T) {
	blendertest.Require(t)
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
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
		api, err := New(Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log, PublicURL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer api.Close()
		srv := server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log, Registry: prometheus.NewRegistry()}, api)
		hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv}}
		hs.Start()
		defer hs.Close()
		go func() { _ = eng.Run(ctx) }()

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

		scenePath, err := blendertest.Scene(ctx, t.TempDir(), blendertest.Options{Frames: 3, Width: 160, Height: 120, Samples: 4})
		if err != nil {
			t.Fatal(err)
		}
		scene, err := os.ReadFile(scenePath)
		if err != nil {
			t.Fatal(err)
		}
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

		for i := range 2 {
			cfg := agent.Config{ServerURL: url, Token: enroll, Name: "node-" + strconv.Itoa(i), WorkDir: t.TempDir(), Slots: 1,
				Executors: executor.Defaults(), LeaseWaitSeconds: 1, ProgressInterval: 200 * time.Millisecond,
				BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second}
			go func() { _ = agent.Run(ctx, cfg, log.With("agent", i)) }()
		}
		ti = e.waitStatus(e.cl, id, 3*time.Minute, StatusFinishedFail)
		if ti.DoneFrames != 2 || ti.FailedFrames != 1 {
			t.Fatalf("with a failed frame: %+v", ti)
		}
		e.call(e.cl, "/api/render/task/restartFailedFrames", map[string]any{"taskIds": []int64{id}}, nil)
		ti = e.waitStatus(e.cl, id, 3*time.Minute, StatusFinished)
		if len(ti.Children) != 1 || ti.Children[0].TaskStatus != StatusFinished || ti.DoneFrames != 3 || ti.RenderConsume <= 0 {
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
		for deadline := time.Now().Add(10 * time.Second); len(list.Files) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			_, lb = e.get(url+transferPrefix+"/list?prefix=/output/"+strconv.FormatInt(tid, 10), map[string]string{"userKey": key})
			_ = json.Unmarshal(lb, &list)
		}
		if len(list.Files) != 1 {
			t.Fatalf("stitched outputs: %s", lb)
		}
		_, full := e.get(url+transferPrefix+"/files?path="+list.Files[0]["path"].(string), map[string]string{"userKey": key})
		if w, h := decodePNG(t, full); w != w0 || h != h0 {
			t.Fatalf("stitched %dx%d, untiled %dx%d", w, h, w0, h0)
		}
	})
}
