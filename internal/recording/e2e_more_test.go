package recording_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

// waitSegments waits until the capture has stored at least n segments.
func (e *env) waitSegments(id string, n int) {
	e.t.Helper()
	testutil.Eventually(e.t, 60*time.Second, func() error {
		if got := e.segments(id); got < n {
			return fmt.Errorf("%d segments, want %d", got, n)
		}
		return nil
	})
}

// waitComplete waits for status 6 and downloads the file's slices.
func (e *env) waitComplete(c *client, id, fileName, ext string) []string {
	e.t.Helper()
	testutil.Eventually(e.t, 120*time.Second, func() error {
		if st, item := c.status(id); st != recording.StatusComplete {
			return fmt.Errorf("status %d %v", st, item)
		}
		return nil
	})
	dl := ok(e.t, e.form(recording.PathFileDownload, map[string]string{"file_name": fileName}))["data"].(map[string]any)
	var paths []string
	for i, u := range dl["url_list"].([]any) {
		status, body := get(e.t, u.(string), "")
		if status != 200 {
			e.t.Fatalf("download %s: HTTP %d", u, status)
		}
		p := filepath.Join(e.t.TempDir(), fmt.Sprintf("%s_%d%s", fileName, i+1, ext))
		must(e.t, os.WriteFile(p, body, 0o600))
		paths = append(paths, p)
	}
	return paths
}

// TestEndToEndAutoReflow: an auto recording starts with the first user alone on the canvas and
// reflows into two cells when a second one publishes.
func TestEndToEndAutoReflow(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("real-time recording")
	}
	t.Parallel() // real time, mostly waiting: go test runs GOMAXPROCS such tests at once
	e := sqliteEnv(t)
	e.runEngine()
	e.runRecorder("rec")
	c := e.login()
	id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "auto", "width": 640, "height": 360,
		"frame_rate": 15, "auto": map[string]any{"type": 1, "media_count": 4, "crop_mode": 1}}))["record_id"].(string)
	// b's stream runs from the start (its playlist takes a while to appear, and a recorder that
	// finds none retries with growing delays); b publishes it later.
	red, blue := hlsSource(t, "red", 440), hlsSource(t, "blue", 660)
	e.publish("g", "a", "cam", unitspec.MediaCamera, red)
	e.waitSegments(id, 4)
	alone := e.segments(id)
	e.publish("g", "b", "cam", unitspec.MediaCamera, blue)
	// Wait until the recorder reports b's cell showing b, then for whole segments of it.
	e.waitCaptureLog(id, "shows source b/cam")
	e.waitSegments(id, e.segments(id)+3)
	ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
	paths := e.waitComplete(c, id, "auto", ".mp4")
	d := probeDuration(t, paths[0])
	end := frameRGB(t, paths[0], d-0.7, 640, 360)
	if l, r := pixel(end, 640, 160, 180), pixel(end, 640, 480, 180); !near(l, rgb{255, 0, 0}, 60) || !near(r, rgb{0, 0, 255}, 60) {
		t.Fatalf("after b joined: %v %v, want red | blue", l, r)
	}
	found := false
	for s := 0.5; s < float64(alone) && !found; s += 0.5 {
		f := frameRGB(t, paths[0], s, 640, 360)
		found = near(pixel(f, 640, 160, 180), rgb{255, 0, 0}, 60) && near(pixel(f, 640, 480, 180), rgb{255, 0, 0}, 60)
	}
	if !found {
		t.Fatal("no frame shows a alone on the whole canvas before b joined")
	}
}

// TestEndToEndMP3Slices: an mp3 recording is cut into slices of file_duration (the test's minute is
// 200 ms, so 15 minutes last 3 s), each an mp3 with audio only.
func TestEndToEndMP3Slices(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("real-time recording")
	}
	t.Parallel() // real time, mostly waiting: go test runs GOMAXPROCS such tests at once
	e := sqliteEnv(t, func(c *recording.Config) { c.Minute = 200 * time.Millisecond })
	e.runEngine()
	e.runRecorder("rec")
	e.publish("g", "a", "mic", 1, rtmpSource(t, "red", 440))
	c := e.login()
	id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "voice", "file_type": 1, "file_duration": 15}))["record_id"].(string)
	ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "audio_list": []any{map[string]any{"user_id": "a", "media_id": "mic"}}}))
	e.waitSegments(id, 5)
	ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
	paths := e.waitComplete(c, id, "voice", ".mp3")
	if len(paths) < 2 {
		t.Fatalf("%d slices of a recording over 4 s cut every 3 s", len(paths))
	}
	for i, p := range paths {
		streams := probe(t, p, "stream=codec_type,codec_name")
		if !strings.Contains(streams, "codec_name=mp3") || strings.Contains(streams, "codec_type=video") {
			t.Fatalf("slice %d: %s", i+1, streams)
		}
		if d := probeDuration(t, p); i < len(paths)-1 && (d < 2.5 || d > 3.5) {
			t.Fatalf("slice %d lasts %.2f s, want about 3", i+1, d)
		}
	}
	list := ok(t, e.form(recording.PathFileList, map[string]string{"file_name": "voice"}))["data"].(map[string]any)
	f := list["list"].([]any)[0].(map[string]any)
	if f["file_type"] != "mp3" || int(f["slice_count"].(float64)) != len(paths) || !strings.HasSuffix(f["slices"].([]any)[1].(map[string]any)["name"].(string), "voice_2.mp3") {
		t.Fatalf("file %v", f)
	}
}

// deadTransport fails every call once the recorder is "killed": it cannot even hand its unit back.
type deadTransport struct{ dead atomic.Bool }

func (d *deadTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.dead.Load() {
		return nil, errors.New("recorder host is gone")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestEndToEndRecorderKilled: a recorder whose host dies mid-recording loses its lease; another
// recorder takes the capture over, and the file keeps what the first one recorded.
func TestEndToEndRecorderKilled(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("real-time recording")
	}
	t.Parallel() // real time, mostly waiting: go test runs GOMAXPROCS such tests at once
	e := sqliteEnv(t)
	e.runEngine()
	dead := &deadTransport{}
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = agent.Run(ctx, agent.Config{ServerURL: e.srv.URL, Token: e.agentToken, Name: "doomed", Kind: "recorder",
			WorkDir: t.TempDir(), Executors: map[string]agent.Executor{unitspec.CapRecorder: &executor.Recorder{}},
			HTTPClient: &http.Client{Transport: dead}, LeaseWaitSeconds: 1, BackoffMin: 100 * time.Millisecond},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() { kill(); <-done })
	e.publish("g", "a", "cam", unitspec.MediaCamera, rtmpSource(t, "red", 440))
	c := e.login()
	id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "kept", "width": 320, "height": 180, "frame_rate": 15}))["record_id"].(string)
	ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a", "w": 320, "h": 180}},
		"audio_list": []any{map[string]any{"user_id": "a"}}}))
	e.waitSegments(id, 3)
	dead.dead.Store(true)
	kill()
	<-done
	before := e.segments(id)
	e.runRecorder("survivor")
	e.clk.Advance(31 * time.Second) // the dead recorder's lease runs out; the rescuer requeues the capture
	e.waitSegments(id, before+3)
	ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
	e.waitComplete(c, id, "kept", ".mp4")
	j, err := e.st.GetJob(context.Background(), mustInt(id))
	must(t, err)
	us, _, err := e.st.ListUnits(context.Background(), store.UnitFilter{JobID: j.ID})
	must(t, err)
	var fin unitspec.Recording
	for _, u := range us {
		if u.Index == 1 {
			must(t, json.Unmarshal(u.Spec, &fin))
		}
	}
	if len(fin.Segments) < before+3 || fin.Segments[0].Index != 0 {
		t.Fatalf("finalized %d segments (first %+v), want the %d of the first recorder and more", len(fin.Segments), fin.Segments[0], before)
	}
}
