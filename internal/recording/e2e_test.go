package recording_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

// rtmpSource is ffmpeg serving a solid colour and a tone as an RTMP server on loopback, paced in
// real time, to any number of pulls one after another.
func rtmpSource(t testing.TB, colour string, freq int) string {
	t.Helper()
	return newRTMPListener(t, colour, freq).url
}

// hlsSource is ffmpeg writing a live HLS playlist of a colour and a tone into a directory served
// on loopback: unlike an RTMP listener it serves any number of pulls, so a recorder may reconnect.
func hlsSource(t testing.TB, colour string, freq int) string {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "color=c="+colour+":s=320x180:r=15",
		"-f", "lavfi", "-i", "sine=frequency="+strconv.Itoa(freq)+":sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-f", "hls", "-hls_time", "1", "-hls_list_size", "4", "-hls_flags", "delete_segments", filepath.Join(dir, "live.m3u8"))
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return srv.URL + "/live.m3u8"
}

// runRecorder runs a real recorder agent (the agent loop with the recorder executor) until the test
// ends.
func (e *env) runRecorder(name string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = agent.Run(ctx, agent.Config{ServerURL: e.srv.URL, Token: e.agentToken, Name: name, Kind: "recorder",
			WorkDir: e.t.TempDir(), Executors: map[string]agent.Executor{unitspec.CapRecorder: &executor.Recorder{}},
			LeaseWaitSeconds: 1, ProgressInterval: 500 * time.Millisecond, BackoffMin: 100 * time.Millisecond},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

// runEngine runs the engine's leader services (the recording's advance among them).
func (e *env) runEngine() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.eng.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// waitCaptureLog waits until the capture unit's log holds text (the recorder logs each cell's
// source as it starts showing it).
func (e *env) waitCaptureLog(recordID, text string) {
	e.t.Helper()
	testutil.Eventually(e.t, 60*time.Second, func() error {
		us, _, err := e.st.ListUnits(context.Background(), store.UnitFilter{JobID: mustInt(recordID)})
		if err != nil {
			return err
		}
		for _, u := range us {
			if u.Index == 0 && strings.Contains(u.Log, text) {
				return nil
			}
		}
		return fmt.Errorf("the capture's log lacks %q", text)
	})
}

// segments counts the capture's uploaded segments.
func (e *env) segments(recordID string) int {
	us, _, err := e.st.ListUnits(context.Background(), store.UnitFilter{JobID: mustInt(recordID)})
	must(e.t, err)
	for _, u := range us {
		if u.Index == 0 {
			return strings.Count(string(u.Outputs), "segment.")
		}
	}
	return 0
}

type rgb struct{ r, g, b int }

func frameRGB(t testing.TB, path string, sec float64, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(sec, 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("frame at %.1fs: %v (%d bytes)", sec, err, len(out))
	}
	return out
}

func pixel(f []byte, w, x, y int) rgb {
	i := 3 * (y*w + x)
	return rgb{int(f[i]), int(f[i+1]), int(f[i+2])}
}

func near(a, b rgb, tol int) bool {
	d := func(v int) int { return max(v, -v) }
	return d(a.r-b.r) <= tol && d(a.g-b.g) <= tol && d(a.b-b.b) <= tol
}

func probe(t testing.TB, path, entries string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", entries, "-of", "default=nw=1", path).Output()
	must(t, err)
	return string(out)
}

// TestEndToEndManual: a WebSocket client records two real RTMP sources (red and blue, two tones) side
// by side with different crop modes, a subtitle of each type and a pause, through the server and a
// real recorder agent running ffmpeg; the storage calls list and download the file; ffprobe shows
// the canvas, frame rate and an audio stream, and a duration equal to what was recorded minus the
// pause; the pixel at the centre of each box has its source's colour; the subtitle shows.
func TestEndToEndManual(t *testing.T) {
	needFFmpeg(t)
	t.Parallel() // real time, mostly waiting: go test runs GOMAXPROCS such tests at once
	forEachDriver(t, func(t *testing.T, e *env) {
		if testing.Short() {
			t.Skip("real-time recording")
		}
		t.Parallel() // the two drivers' recordings are independent
		e.runEngine()
		e.runRecorder("rec-1")
		red, blue := rtmpSource(t, "red", 440), rtmpSource(t, "blue", 660)
		e.publish("g", "jack", "cam", unitspec.MediaCamera, red)
		e.publish("g", "paul", "cam", unitspec.MediaCamera, blue)
		c := e.login()
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "e2e", "width": 640,
			"height": 360, "frame_rate": 15}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdSubtitles, "record_id": id, "subtitle_list": []any{
			map[string]any{"type": 1, "content": "课堂 Class", "color": "#ffffff", "x": 20, "y": 20, "size": 40},
			map[string]any{"type": 2, "color": 0xffff00, "x": 340, "y": 300, "size": 24, "transparency": 80}}}))
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id,
			"audio_list": []any{map[string]any{"user_id": "jack"}, map[string]any{"user_id": "paul"}},
			"video_list": []any{
				map[string]any{"user_id": "jack", "media_id": "cam", "crop_mode": 2, "x": 0, "y": 0, "w": 320, "h": 360},
				map[string]any{"user_id": "paul", "media_id": "cam", "crop_mode": 3, "x": 320, "y": 0, "w": 320, "h": 360}}}))
		// On a loaded machine the sources may take seconds to connect: count segments once both show.
		e.waitCaptureLog(id, "cell 0 shows source jack/cam")
		e.waitCaptureLog(id, "cell 1 shows source paul/cam")
		n0 := e.segments(id)
		testutil.Eventually(t, 60*time.Second, func() error {
			if n := e.segments(id); n < n0+3 {
				return fmt.Errorf("%d segments", n)
			}
			return nil
		})
		ok(t, c.do(map[string]any{"id": recording.CmdPause, "record_id": id}))
		paused := time.Now()
		n := e.segments(id)
		testutil.Eventually(t, 30*time.Second, func() error { // the recorder goes on without recording
			if time.Since(paused) < 3*time.Second {
				return fmt.Errorf("paused %v", time.Since(paused))
			}
			return nil
		})
		ok(t, c.do(map[string]any{"id": recording.CmdResume, "record_id": id}))
		testutil.Eventually(t, 60*time.Second, func() error {
			if m := e.segments(id); m < n+2 {
				return fmt.Errorf("%d segments after resuming", m)
			}
			return nil
		})
		stop := ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		testutil.Eventually(t, 120*time.Second, func() error {
			if st, item := c.status(id); st != recording.StatusComplete {
				return fmt.Errorf("status %d %v", st, item)
			}
			return nil
		})
		dl := ok(t, e.form(recording.PathFileDownload, map[string]string{"file_name": "e2e"}))["data"].(map[string]any)
		urls := dl["url_list"].([]any)
		if len(urls) != 1 {
			t.Fatalf("download %v", dl)
		}
		status, body := get(t, urls[0].(string), "")
		if status != 200 {
			t.Fatalf("download: HTTP %d", status)
		}
		p := filepath.Join(t.TempDir(), "e2e.mp4")
		must(t, os.WriteFile(p, body, 0o600))
		streams := probe(t, p, "stream=codec_type,width,height,r_frame_rate")
		for _, want := range []string{"width=640", "height=360", "r_frame_rate=15/1", "codec_type=audio"} {
			if !strings.Contains(streams, want) {
				t.Fatalf("streams lack %s:\n%s", want, streams)
			}
		}
		j, err := e.st.GetJob(context.Background(), mustInt(id))
		must(t, err)
		var doc struct {
			MediaMillis float64 `json:"media_millis"`
		}
		must(t, json.Unmarshal(j.Spec, &doc))
		media := doc.MediaMillis
		d := probeDuration(t, p)
		if d*1000 < media-500 || d*1000 > media+500 {
			t.Fatalf("file lasts %.2f s, recorded minus paused %.2f s", d, media/1000)
		}
		// The server counts from the layout, the recorder from its first frame: the server's is not less.
		if md := stop["media_duration"].(float64); md < float64(int(media/1000))-1 || md > media/1000+10 {
			t.Fatalf("stop's media_duration %v s, the recorder's %v ms", md, media)
		}
		// The first second may show the placeholders while the sources connect: look near the end.
		f := frameRGB(t, p, d-1, 640, 360)
		if l, r := pixel(f, 640, 160, 180), pixel(f, 640, 480, 180); !near(l, rgb{255, 0, 0}, 60) || !near(r, rgb{0, 0, 255}, 60) {
			t.Fatalf("centre pixels %v %v, want red and blue", l, r)
		}
		differs := 0
		for y := 22; y < 58; y++ {
			for x := 22; x < 180; x++ {
				if !near(pixel(f, 640, x, y), rgb{255, 0, 0}, 60) {
					differs++
				}
			}
		}
		if differs < 100 {
			t.Fatalf("the subtitle's region is plain red (%d pixels differ)", differs)
		}
	})
}
