package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/imaging"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

func forEachDriver(t *testing.T, fn func(t *testing.T, open func(testing.TB) store.Store)) {
	drivers.Each(t, fn)
}

type testEnv struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	eng   *engine.Engine
	blobs blob.Store
	keys  *auth.Keyring
	api   *API
	mux   *http.ServeMux
	srv   *httptest.Server
	acct  store.Account
	cl    *Client
	clk   *testutil.Clock // the engine's clock: the wall clock, moved on past time limits by tests
}

func testLog() *slog.Logger {
	if os.Getenv("RENDER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEnv starts the facade over real HTTP on a fresh store. handler, when set, serves instead of the
// plain mux (the lead's server with the agent protocol).
func newEnv(t *testing.T, open func(testing.TB) store.Store, cfg Config) *testEnv {
	t.Helper()
	ctx := context.Background()
	e := &testEnv{t: t, ctx: ctx, st: open(t), clk: testutil.NewWallClock()}
	e.eng = engine.New(e.st, engine.Config{RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, AvoidFor: time.Millisecond, IdleRecheck: 50 * time.Millisecond,
		Now: e.clk.Now}, testLog(), nil)
	var err error
	if e.blobs, err = blob.NewLocal(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if e.keys, err = auth.NewKeyring(bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	cfg.Engine, cfg.Store, cfg.Blobs, cfg.Keyring, cfg.Log, cfg.PublicURL = e.eng, e.st, e.blobs, e.keys, testLog(), e.srv.URL
	if cfg.Blender == "" {
		cfg.Blender = "blender-not-installed-here" // analysis falls back to task.json unless a test asks
	}
	if e.api, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.api.Close() })
	e.api.Mount(e.mux)
	e.acct, e.cl = e.newAccount("alice", 0)
	return e
}

// newAccount creates an account (a sub-account when parent is set) with an access key and a client.
func (e *testEnv) newAccount(name string, parent int64) (store.Account, *Client) {
	e.t.Helper()
	a, err := e.st.CreateAccount(e.ctx, store.Account{Name: name, ParentID: parent, Role: store.RoleUser})
	if err != nil {
		e.t.Fatal(err)
	}
	id, key, err := CreateAccessKey(e.ctx, e.st, e.keys, a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return a, &Client{BaseURL: e.srv.URL, AccessID: id, AccessKey: key}
}

// call posts and fails the test on a non-200 code.
func (e *testEnv) call(cl *Client, path string, body, out any) {
	e.t.Helper()
	if _, err := cl.Call(e.ctx, path, body, out); err != nil {
		e.t.Fatalf("%s %v: %v", path, body, err)
	}
}

// code posts and returns the answer's code.
func (e *testEnv) code(cl *Client, path string, body any) int {
	e.t.Helper()
	env, err := cl.Call(e.ctx, path, body, nil)
	if env == nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	return env.Code
}

func (e *testEnv) transferKey(cl *Client) string {
	var d struct {
		Key string `json:"raySyncUserKey"`
	}
	e.call(cl, "/api/render/user/getRaySyncUserKey", nil, &d)
	return d.Key
}

// upload sends data to the transfer service in chunks of chunk bytes.
func (e *testEnv) upload(key, path string, data []byte, chunk int) {
	e.t.Helper()
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		req, _ := http.NewRequest(http.MethodPut, e.srv.URL+transferPrefix+"/files?path="+path, bytes.NewReader(data[off:end]))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end-1, len(data)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			e.t.Fatalf("upload chunk at %d: %d %s", off, resp.StatusCode, b)
		}
	}
}

func (e *testEnv) get(url string, header map[string]string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *testEnv) info(cl *Client, id int64) taskInfo {
	e.t.Helper()
	var pg struct {
		Items []taskInfo `json:"items"`
	}
	e.call(cl, "/api/render/task/queryTaskInfo", map[string]any{"taskIds": []int64{id}}, &pg)
	if len(pg.Items) != 1 {
		e.t.Fatalf("queryTaskInfo %d: %d items", id, len(pg.Items))
	}
	return pg.Items[0]
}

// waitStatus polls queryTaskInfo until the task reaches one of the statuses.
func (e *testEnv) waitStatus(cl *Client, id int64, timeout time.Duration, statuses ...int) taskInfo {
	e.t.Helper()
	var ti taskInfo
	testutil.Eventually(e.t, timeout, func() error {
		ti = e.info(cl, id)
		if slices.Contains(statuses, ti.TaskStatus) {
			return nil
		}
		return fmt.Errorf("task %d: status %d (%s), want one of %v", id, ti.TaskStatus, ti.StatusInfo, statuses)
	})
	return ti
}

// newTask creates a task, uploads scene bytes and task.json, and submits it.
func (e *testEnv) newTask(cl *Client, scene []byte, taskInfoFields map[string]string, common map[string]string) int64 {
	e.t.Helper()
	id := e.prepareTask(cl, scene, taskInfoFields, common)
	e.call(cl, "/api/render/task/submitTask", map[string]any{"taskId": id}, nil)
	return id
}

// prepareTask is newTask without the submission.
func (e *testEnv) prepareTask(cl *Client, scene []byte, taskInfoFields map[string]string, common map[string]string) int64 {
	e.t.Helper()
	var created struct {
		IDs     []int64  `json:"taskIdList"`
		Aliases []string `json:"aliasTaskIdList"`
	}
	e.call(cl, "/api/render/task/createTask", map[string]any{"count": 1}, &created)
	id := created.IDs[0]
	key := e.transferKey(cl)
	server := fmt.Sprintf("/D/proj%d/scene.blend", id)
	e.upload(key, server, scene, max(len(scene)/2+1, 1))
	ti := map[string]string{"cg_id": "2007", "input_cg_file": fmt.Sprintf("D:\\proj%d\\scene.blend", id)}
	for k, v := range taskInfoFields {
		ti[k] = v
	}
	tj := map[string]any{"software_config": map[string]any{"cg_name": "Blender", "cg_version": "3.4"},
		"task_info": ti, "scene_info": map[string]any{"common": common}}
	up := map[string]any{"asset": []map[string]string{{"local": fmt.Sprintf("D:/proj%d/scene.blend", id), "server": server}}}
	e.call(cl, "/api/render/task/taskJsonFile", map[string]any{"taskId": id, "fileName": "task.json", "content": string(mustJSON(tj))}, nil)
	e.call(cl, "/api/render/task/taskJsonFile", map[string]any{"taskId": id, "fileName": "upload.json", "content": string(mustJSON(up))}, nil)
	return id
}

// worker is an in-process stand-in for a render agent: it leases units and completes them with
// solid-colour PNGs of the block's size.
type worker struct {
	e *testEnv
	w store.Worker
}

func (e *testEnv) worker(caps ...string) *worker {
	e.t.Helper()
	w, err := e.eng.RegisterWorker(e.ctx, store.Worker{Name: fmt.Sprintf("node-%d", time.Now().UnixNano()), Kind: "render", Capabilities: caps})
	if err != nil {
		e.t.Fatal(err)
	}
	return &worker{e: e, w: w}
}

func (w *worker) lease(max int) []store.Unit {
	w.e.t.Helper()
	units, err := w.e.eng.Lease(w.e.ctx, w.w, max, 0)
	if err != nil {
		w.e.t.Fatal(err)
	}
	return units
}

// complete renders u as a flat image and reports it with the given node seconds.
func (w *worker) complete(u store.Unit, seconds float64) error {
	var spec unitspec.Blender
	if err := json.Unmarshal(u.Spec, &spec); err != nil {
		return err
	}
	width, height := 64, 48
	if len(spec.Resolution) == 2 {
		width, height = spec.Resolution[0], spec.Resolution[1]
	}
	r := image.Rect(0, 0, width, height)
	if spec.Border != nil {
		r = spec.Border.Rect(width, height)
		r = r.Sub(r.Min)
	}
	// Like the agent's executor: "progress", "image" and "thumbnail", or one of each per frame
	// ("image.12") for a unit of several frames.
	frames, suffix := []int{spec.Frame}, func(int) string { return "" }
	if len(spec.Frames) > 0 {
		frames, suffix = spec.Frames, func(f int) string { return "." + strconv.Itoa(f) }
	}
	outputs := map[string]any{}
	for _, f := range frames {
		img := image.NewRGBA(r)
		for i := range img.Pix {
			img.Pix[i] = uint8(f * 40)
		}
		img.Set(0, 0, color.RGBA{255, 0, 0, 255})
		var buf bytes.Buffer
		if err := imaging.EncodePNG(&buf, img); err != nil {
			return err
		}
		ref, err := w.e.blobs.Put(w.e.ctx, &buf, 0)
		if err != nil {
			return err
		}
		var tb bytes.Buffer
		_ = imaging.EncodePNG(&tb, imaging.Thumbnail(img, 16))
		th, err := w.e.blobs.Put(w.e.ctx, &tb, 0)
		if err != nil {
			return err
		}
		// The progress image the executor uploads before the frame: smaller than the frame and its
		// thumbnail, so that a progress output taken for a frame or a file shows in their sizes.
		var pb bytes.Buffer
		_ = imaging.EncodePNG(&pb, imaging.Thumbnail(img, 8))
		pr, err := w.e.blobs.Put(w.e.ctx, &pb, 0)
		if err != nil {
			return err
		}
		outputs["image"+suffix(f)], outputs["thumbnail"+suffix(f)] = ref, th
		outputs[unitspec.OutputProgress+suffix(f)] = pr
	}
	outs := mustJSON(outputs)
	if err := w.e.eng.SetOutputs(w.e.ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch}, outs); err != nil {
		return err
	}
	errs, err := w.e.eng.Complete(w.e.ctx, []engine.Completion{{UnitID: u.ID, Epoch: u.Epoch, Outputs: outs, Seconds: seconds,
		Result: mustJSON(map[string]any{"width": r.Dx(), "height": r.Dy(), "frame": spec.Frame})}})
	if err != nil {
		return err
	}
	return errs[0]
}

// drain leases and completes everything ready, returning how many units it completed.
func (w *worker) drain(seconds float64) int {
	w.e.t.Helper()
	n := 0
	for {
		units := w.lease(100)
		if len(units) == 0 {
			return n
		}
		for _, u := range units {
			if err := w.complete(u, seconds); err != nil {
				w.e.t.Fatalf("complete unit %d: %v", u.ID, err)
			}
			n++
		}
	}
}

func engineFailure(u store.Unit) engine.Failure {
	return engine.Failure{UnitID: u.ID, Epoch: u.Epoch, WorkerID: u.WorkerID, Error: "render crashed", Permanent: true}
}
