package recording_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/recording"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

// env is a server with the recording facade and the agent protocol on loopback, one tenant account
// with an app, and the enrollment token recorders register with.
type env struct {
	t          testing.TB
	st         store.Store
	eng        *engine.Engine
	api        *recording.API
	srv        *httptest.Server
	clk        *testutil.Clock
	blobs      *blob.Local
	account    int64
	appID      string
	secret     string
	agentToken string
	adminToken string
}

func forEachDriver(t *testing.T, fn func(t *testing.T, e *env)) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		fn(t, newEnv(t, open(t)))
	})
}

// sqliteEnv is an env on SQLite alone: for the real-time recordings, whose store side the tests on
// both drivers already cover, so that the package's tests stay fast.
func sqliteEnv(t testing.TB, opts ...func(*recording.Config)) *env {
	return newEnv(t, drivers.All()[0].Open(t), opts...)
}

func newEnv(t testing.TB, st store.Store, opts ...func(*recording.Config)) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clk := testutil.NewWallClock()
	eng := engine.New(st, engine.Config{Holder: "t", Now: clk.Now, LeaseFor: 30 * time.Second}, log, nil)
	blobs, err := blob.NewLocal(t.TempDir())
	must(t, err)
	keys, err := auth.NewKeyring(bytes.Repeat([]byte{9}, 32))
	must(t, err)
	creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
	must(t, err)
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := recording.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log,
		PublicURL: srv.URL, Minute: time.Second, SegmentSeconds: 1}
	for _, o := range opts {
		o(&cfg)
	}
	api, err := recording.New(cfg)
	must(t, err)
	t.Cleanup(func() { _ = api.Close() })
	srv.Config.Handler = server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log,
		Registry: prometheus.NewRegistry()}, api)
	acct, err := st.CreateAccount(ctx, store.Account{Name: "studio", Role: store.RoleUser})
	must(t, err)
	key, err := api.IssueKey(ctx, acct.ID, "")
	must(t, err)
	return &env{t: t, st: st, eng: eng, api: api, srv: srv, clk: clk, blobs: blobs, account: acct.ID,
		appID: key["app_id"], secret: key["secret"], agentToken: creds.AgentToken, adminToken: creds.AdminToken}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// token mints a token of the env's app good for an hour.
func (e *env) token() string {
	return recording.MintToken(e.appID, e.secret, e.clk.Now().Add(time.Hour), "t1")
}

// client is a WebSocket client of the long connection.
type client struct {
	t    testing.TB
	conn *websocket.Conn
	seq  int
}

func (e *env) dial() *client {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + recording.PathWS
	conn, _, err := websocket.Dial(context.Background(), u, nil)
	must(e.t, err)
	conn.SetReadLimit(1 << 20)
	e.t.Cleanup(func() { _ = conn.CloseNow() })
	return &client{t: e.t, conn: conn}
}

// login dials and logs in as the env's app.
func (e *env) login() *client {
	c := e.dial()
	if r := c.do(map[string]any{"id": recording.CmdLogin, "app_id": e.appID, "token": e.token()}); code(r) != 0 {
		e.t.Fatalf("login: %v", r)
	}
	return c
}

// send writes one frame and reads one answer.
func (c *client) send(frame []byte) map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(c.t, c.conn.Write(ctx, websocket.MessageText, frame))
	_, b, err := c.conn.Read(ctx)
	must(c.t, err)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("answer %s: %v", b, err)
	}
	return m
}

// do sends a command with business and seq filled in, and checks the answer's id and seq.
func (c *client) do(cmd map[string]any) map[string]any {
	c.t.Helper()
	c.seq++
	seq := fmt.Sprint(c.seq)
	cmd["business"], cmd["seq"] = "RE", seq
	b, _ := json.Marshal(cmd)
	r := c.send(b)
	id, _ := cmd["id"].(int)
	if r["seq"] != seq || int(r["id"].(float64)) != id+4096 || r["business"] != "RE" {
		c.t.Fatalf("answer to %v: %v (want id %d, seq %s)", cmd["id"], r, id+4096, seq)
	}
	return r
}

func code(r map[string]any) int { return int(r["code"].(float64)) }

// ok fails the test when an answer is not a success.
func ok(t testing.TB, r map[string]any) map[string]any {
	t.Helper()
	if code(r) != 0 {
		t.Fatalf("answer %v", r)
	}
	return r
}

// form posts a storage (or registry) call as multipart/form-data and decodes the envelope.
func (e *env) form(path string, fields map[string]string) map[string]any {
	e.t.Helper()
	return e.formToken(path, e.token(), fields)
}

// formToken is form with a token of the test's choosing.
func (e *env) formToken(path, token string, fields map[string]string) map[string]any {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("business", "RE")
	_ = mw.WriteField("app_id", e.appID)
	_ = mw.WriteField("token", token)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	_ = mw.Close()
	resp, err := e.srv.Client().Post(e.srv.URL+path, mw.FormDataContentType(), &buf)
	must(e.t, err)
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("%s: HTTP %d %v", path, resp.StatusCode, err)
	}
	return m
}

// publish reports a user's media to the registry through the HTTP extension.
func (e *env) publish(group, user, mediaID string, mediaType int, url string) {
	e.t.Helper()
	r := e.form(recording.PathMedia, map[string]string{"action": "publish", "group_id": group, "user_id": user,
		"media_id": mediaID, "media_type": fmt.Sprint(mediaType), "url": url})
	if code(r) != 0 {
		e.t.Fatalf("publish: %v", r)
	}
}

// recorder acts as a recorder agent through the real agent protocol.
type recorder struct {
	e     *env
	token string
	dir   string
}

func (e *env) recorder(name string) *recorder {
	e.t.Helper()
	var reg agentapi.RegisterResponse
	e.agentCall("POST", agentapi.PathRegister, e.agentToken, agentapi.RegisterRequest{Name: name, Kind: "recorder",
		Capabilities: []string{unitspec.CapRecorder}}, &reg)
	return &recorder{e: e, token: reg.WorkerToken, dir: e.t.TempDir()}
}

func (e *env) agentCall(method, path, token string, body, out any) int {
	e.t.Helper()
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %s", method, path, b)
		}
	}
	return resp.StatusCode
}

// lease waits for one recorder unit.
func (r *recorder) lease() agentapi.Unit {
	r.e.t.Helper()
	var got agentapi.Unit
	testutil.Eventually(r.e.t, 10*time.Second, func() error {
		var resp agentapi.LeaseResponse
		if c := r.e.agentCall("POST", agentapi.PathLease, r.token, agentapi.LeaseRequest{Max: 1}, &resp); c != 200 || len(resp.Units) == 0 {
			_ = r.e.api.Advance(context.Background(), r.e.clk.Now())
			return fmt.Errorf("no unit leased (HTTP %d)", c)
		}
		got = resp.Units[0]
		return nil
	})
	return got
}

// spec reads the unit's current spec.
func (r *recorder) spec(u agentapi.Unit) (unitspec.Recording, map[string]agentapi.Output) {
	r.e.t.Helper()
	var resp agentapi.UnitSpecResponse
	if c := r.e.agentCall("GET", fmt.Sprintf("%s/%d?epoch=%d", agentapi.PathUnitSpec, u.UnitID, u.Epoch), r.token, nil, &resp); c != 200 {
		r.e.t.Fatalf("unit spec: HTTP %d", c)
	}
	var s unitspec.Recording
	must(r.e.t, json.Unmarshal(resp.Spec, &s))
	return s, resp.Outputs
}

func (r *recorder) upload(u agentapi.Unit, name string, content []byte) agentapi.Output {
	r.e.t.Helper()
	var out agentapi.OutputResponse
	if c := r.e.agentCall("PUT", fmt.Sprintf("%s/%d/%s?epoch=%d", agentapi.PathOutput, u.UnitID, name, u.Epoch), r.token, content, &out); c != 200 {
		r.e.t.Fatalf("upload %s: HTTP %d", name, c)
	}
	return out.Output
}

func (r *recorder) complete(u agentapi.Unit, result any) {
	r.e.t.Helper()
	b, _ := json.Marshal(result)
	var resp agentapi.CompleteResponse
	if c := r.e.agentCall("POST", agentapi.PathComplete, r.token, agentapi.CompleteRequest{Units: []agentapi.Completion{{
		UnitRef: agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}, Result: b}}}, &resp); c != 200 {
		r.e.t.Fatalf("complete: HTTP %d", c)
	}
}

// finalize does what a recorder's finalize does, with ffmpeg: joins the segments the spec lists
// (downloaded through the protocol) into one slice and uploads it.
func (r *recorder) finalize(u agentapi.Unit) unitspec.FinalizeResult {
	r.e.t.Helper()
	spec, _ := r.spec(u)
	if spec.Mode != unitspec.ModeFinalize || len(spec.Segments) == 0 {
		r.e.t.Fatalf("finalize spec %+v", spec)
	}
	var list strings.Builder
	for i, s := range spec.Segments {
		req, _ := http.NewRequest("GET", r.e.srv.URL+agentapi.PathBlob+"/"+s.Hash, nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := r.e.srv.Client().Do(req)
		must(r.e.t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			r.e.t.Fatalf("segment %s: HTTP %d", s.Hash, resp.StatusCode)
		}
		p := filepath.Join(r.dir, fmt.Sprintf("seg%d.mp4", i))
		must(r.e.t, os.WriteFile(p, b, 0o600))
		fmt.Fprintf(&list, "file '%s'\n", p)
	}
	must(r.e.t, os.WriteFile(filepath.Join(r.dir, "list.txt"), []byte(list.String()), 0o600))
	ext := ".mp4"
	if spec.FileType == unitspec.FileMP3 {
		ext = ".mp3"
	}
	out := filepath.Join(r.dir, "slice"+ext)
	args := []string{"-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", filepath.Join(r.dir, "list.txt")}
	if ext == ".mp3" {
		args = append(args, "-vn", "-c:a", "libmp3lame")
	} else {
		args = append(args, "-c", "copy")
	}
	ffmpeg(r.e.t, append(args, out)...)
	b, err := os.ReadFile(out)
	must(r.e.t, err)
	o := r.upload(u, unitspec.SliceOutput(1), b)
	res := unitspec.FinalizeResult{Slices: []unitspec.Slice{{Index: 1, Hash: o.Hash, Size: o.Size, Millis: int64(probeDuration(r.e.t, out) * 1000)}}}
	r.complete(u, res)
	return res
}

// needFFmpeg skips without ffmpeg and ffprobe, but fails under CI=true.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true", p)
			}
			t.Skipf("%s not installed", p)
		}
	}
}

func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// segment makes a real mp4 of seconds of a colour with a tone, as a capture uploads.
func segment(t testing.TB, dir, colour string, seconds int) []byte {
	t.Helper()
	p := filepath.Join(dir, colour+".mp4")
	ffmpeg(t, "-y", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("color=%s:s=320x240:r=15:d=%d", colour, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=f=440:d=%d", seconds), "-c:v", "libx264", "-preset", "ultrafast",
		"-c:a", "aac", "-shortest", "-movflags", "+faststart", p)
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}

func probeDuration(t testing.TB, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	must(t, err)
	var d float64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%f", &d); err != nil {
		t.Fatalf("ffprobe duration %q", out)
	}
	return d
}

// query answers command 4104 for one record.
func (c *client) status(recordID string) (int, map[string]any) {
	c.t.Helper()
	r := ok(c.t, c.do(map[string]any{"id": recording.CmdQuery, "record_id": recordID}))
	list := r["record_list"].([]any)
	if len(list) != 1 {
		c.t.Fatalf("query %s: %v", recordID, r)
	}
	item := list[0].(map[string]any)
	return int(item["status"].(float64)), item
}

// get fetches a URL with an optional Range.
func get(t testing.TB, u, rng string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
