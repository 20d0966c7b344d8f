package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

// requireFFmpeg skips without ffmpeg, except under CI=true where a missing ffmpeg fails.
func requireFFmpeg(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed, and CI=true forbids skipping the recorder tests", p)
			}
			t.Skipf("%s is not installed", p)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testSource is an ffmpeg publishing a solid colour and a tone on loopback, run again each time it
// exits until killed (testutil.Restarting).
type testSource struct {
	*testutil.Restarting
	url string
}

// lavfiInputs are a colour test pattern and a sine tone, paced in real time.
func lavfiInputs(color string, freq int) []string {
	return []string{"-re", "-f", "lavfi", "-i", "color=c=" + color + ":s=320x180:r=15",
		"-f", "lavfi", "-i", "sine=frequency=" + strconv.Itoa(freq) + ":sample_rate=48000"}
}

var liveEncode = []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac"}

func startSource(t testing.TB, url string, args []string) *testSource {
	args = append([]string{"-nostdin", "-hide_banner", "-v", "error"}, args...)
	return &testSource{Restarting: testutil.StartRestarting(t, "ffmpeg", args...), url: url}
}

// rtmpSource serves a stream as an RTMP server (ffmpeg in listen mode).
func rtmpSource(t testing.TB, color string, freq int) *testSource {
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", freePort(t), color)
	args := append(lavfiInputs(color, freq), liveEncode...)
	return startSource(t, url, append(args, "-f", "flv", "-listen", "1", url))
}

// httpSource serves an MPEG-TS stream over HTTP (ffmpeg in listen mode).
func httpSource(t testing.TB, color string, freq int) *testSource {
	url := fmt.Sprintf("http://127.0.0.1:%d/%s.ts", freePort(t), color)
	args := append(lavfiInputs(color, freq), liveEncode...)
	return startSource(t, url, append(args, "-f", "mpegts", "-listen", "1", url))
}

// srtSource serves an MPEG-TS stream as an SRT listener; the recorder calls it.
func srtSource(t testing.TB, color string, freq int) *testSource {
	port := freePort(t) // a free TCP port number is most likely a free UDP one too
	args := append(lavfiInputs(color, freq), liveEncode...)
	args = append(args, "-f", "mpegts", fmt.Sprintf("srt://127.0.0.1:%d?mode=listener", port))
	return startSource(t, fmt.Sprintf("srt://127.0.0.1:%d", port), args)
}

// hlsSource writes a live HLS playlist into a temporary directory served by the test.
func hlsSource(t testing.TB, color string, freq int) *testSource {
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	args := append(lavfiInputs(color, freq), liveEncode...)
	args = append(args, "-f", "hls", "-hls_time", "1", "-hls_list_size", "4", "-hls_flags", "delete_segments",
		filepath.Join(dir, "live.m3u8"))
	return startSource(t, srv.URL+"/live.m3u8", args)
}

// specEnv is a fakeEnv whose unit spec the test changes while the recorder runs; it notes when
// each version was first served.
type specEnv struct {
	*fakeEnv
	smu     sync.Mutex
	spec    unitspec.Recording
	outputs map[string]agentapi.Output
	served  map[int64]time.Time
	polls   int
}

func (e *specEnv) pollCount() int {
	e.smu.Lock()
	defer e.smu.Unlock()
	return e.polls
}

func newSpecEnv(t testing.TB, spec unitspec.Recording) *specEnv {
	return &specEnv{fakeEnv: newFakeEnv(t), spec: spec, served: map[int64]time.Time{}}
}

func (e *specEnv) UnitSpec(ctx context.Context) (agentapi.UnitSpecResponse, error) {
	e.smu.Lock()
	defer e.smu.Unlock()
	e.polls++
	if _, ok := e.served[e.spec.Version]; !ok {
		e.served[e.spec.Version] = time.Now()
	}
	raw, _ := json.Marshal(e.spec)
	return agentapi.UnitSpecResponse{Spec: raw, Outputs: e.outputs}, nil
}

// change applies f to the spec as a new version and returns it.
func (e *specEnv) change(f func(*unitspec.Recording)) int64 {
	e.smu.Lock()
	defer e.smu.Unlock()
	f(&e.spec)
	e.spec.Version++
	return e.spec.Version
}

func (e *specEnv) servedAt(v int64) time.Time {
	e.smu.Lock()
	defer e.smu.Unlock()
	return e.served[v]
}

func (e *specEnv) uploadCount(prefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for name := range e.uploads {
		if strings.HasPrefix(name, prefix) {
			n++
		}
	}
	return n
}

var _ agent.SpecReader = (*specEnv)(nil)

// recording runs a capture in the background.
type recording struct {
	env    *specEnv
	cancel context.CancelFunc // the unit's context: the lease lost, the agent shutting down
	done   chan struct{}
	res    agent.Result
	err    error
}

func startCapture(t testing.TB, r *Recorder, env *specEnv) *recording {
	raw, _ := json.Marshal(env.spec)
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recording{env: env, cancel: cancel, done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-rec.done })
	go func() {
		defer close(rec.done)
		rec.res, rec.err = r.Run(ctx, agentapi.Unit{UnitID: 1, Epoch: 1, Capability: unitspec.CapRecorder, Spec: raw}, env)
	}()
	return rec
}

// waitLog waits until the log matches re n times and returns the matches.
func (rec *recording) waitLog(t testing.TB, re *regexp.Regexp, n int) [][]string {
	t.Helper()
	var m [][]string
	testutil.Eventually(t, 60*time.Second, func() error {
		m = re.FindAllStringSubmatch(rec.env.Log(), -1)
		if len(m) < n {
			return fmt.Errorf("waiting for %d lines matching %s; log:\n%s", n, re, tailOf(rec.env.Log()))
		}
		return nil
	})
	return m
}

func tailOf(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// waitUploads waits until n segments are uploaded.
func (rec *recording) waitUploads(t testing.TB, n int) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		if got := rec.env.uploadCount("segment."); got < n {
			return fmt.Errorf("%d of %d segments uploaded; log:\n%s", got, n, tailOf(rec.env.Log()))
		}
		return nil
	})
}

func (rec *recording) wait(t testing.TB) unitspec.CaptureResult {
	t.Helper()
	select {
	case <-rec.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the capture did not end; log:\n%s", tailOf(rec.env.Log()))
	}
	if rec.err != nil {
		t.Fatalf("capture failed: %v\nlog:\n%s", rec.err, tailOf(rec.env.Log()))
	}
	res, ok := rec.res.Data.(unitspec.CaptureResult)
	if !ok {
		t.Fatalf("result is %T", rec.res.Data)
	}
	return res
}

// finalizeUploads runs a finalize unit over a capture's uploaded segments and returns the slices'
// local paths and the result.
func finalizeUploads(t testing.TB, r *Recorder, from *specEnv, res unitspec.CaptureResult, fileType, sliceSeconds int) ([]string, unitspec.FinalizeResult) {
	t.Helper()
	env := newFakeEnv(t)
	dir := t.TempDir()
	from.mu.Lock()
	for name, data := range from.uploads {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Segments {
			if unitspec.SegmentOutput(s.Index) == name {
				env.inputs[s.Hash] = p
			}
		}
	}
	from.mu.Unlock()
	spec := unitspec.Recording{Mode: unitspec.ModeFinalize, FileType: fileType, Segments: res.Segments, SliceSeconds: sliceSeconds, FileName: "meeting"}
	raw, _ := json.Marshal(spec)
	out, err := r.Run(context.Background(), agentapi.Unit{UnitID: 2, Epoch: 1, Capability: unitspec.CapRecorder, Spec: raw}, env)
	if err != nil {
		t.Fatalf("finalize: %v\n%s", err, env.Log())
	}
	fin := out.Data.(unitspec.FinalizeResult)
	var paths []string
	for _, s := range fin.Slices {
		p := filepath.Join(dir, unitspec.SliceOutput(s.Index))
		if err := os.WriteFile(p, env.uploads[unitspec.SliceOutput(s.Index)], 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, fin
}

// frameRGB decodes the frame at second sec of a file into RGB24.
func frameRGB(t testing.TB, path string, sec float64, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(sec, 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("frame at %.3fs of %s: %v (%d bytes)", sec, path, err, len(out))
	}
	return out
}

type rgb struct{ r, g, b int }

func pixel(frame []byte, w, x, y int) rgb {
	i := 3 * (y*w + x)
	return rgb{int(frame[i]), int(frame[i+1]), int(frame[i+2])}
}

func near(a, b rgb, tol int) bool {
	abs := func(v int) int { return max(v, -v) }
	return abs(a.r-b.r) <= tol && abs(a.g-b.g) <= tol && abs(a.b-b.b) <= tol
}

var (
	red   = rgb{255, 0, 0}
	blue  = rgb{0, 0, 255}
	green = rgb{0, 128, 0} // ffmpeg's "green" is #008000
	grey  = rgb{0x40, 0x40, 0x40}
)

func probeFile(t testing.TB, r *Recorder, path string) mediaInfo {
	t.Helper()
	info, err := r.probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func streamOf(info mediaInfo, kind string) *probeStream {
	for i := range info.Streams {
		if info.Streams[i].CodecType == kind {
			return &info.Streams[i]
		}
	}
	return nil
}

var (
	cellShows    = regexp.MustCompile(`cell (\d+) shows source \S+ from ([\d.]+)s`)
	cellHolds    = regexp.MustCompile(`cell (\d+) shows a placeholder for source \S+ from ([\d.]+)s`)
	pausedLog    = regexp.MustCompile(`paused at ([\d.]+)s`)
	resumedLog   = regexp.MustCompile(`resumed at ([\d.]+)s`)
	receivingLog = regexp.MustCompile(`source (\S+): receiving`)
)

// TestRecorderComposesPausesAndSlices records two live sources side by side (RTMP and HLS) with
// different crop modes and both subtitle types, pauses, resumes and stops; then finalizes the
// segments into slices and checks them with ffprobe and by their pixels.
func TestRecorderComposesPausesAndSlices(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	r := &Recorder{}
	left := rtmpSource(t, "red", 440)
	right := hlsSource(t, "blue", 660)
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, RecordID: "r1", Version: 1,
		Canvas:         unitspec.Canvas{Width: 640, Height: 480, FrameRate: 15, Background: "#204060"},
		FileType:       unitspec.FileMP4,
		SegmentSeconds: 2, StallMillis: 1500,
		Sources: []unitspec.Source{{ID: "a", UserID: "u1", MediaType: unitspec.MediaCamera, URL: left.url},
			{ID: "b", UserID: "u2", MediaType: unitspec.MediaScreen, URL: right.url}},
		Cells: []unitspec.Cell{{Source: "a", X: 0, Y: 0, W: 320, H: 360, CropMode: unitspec.CropFill},
			{Source: "b", X: 320, Y: 0, W: 320, H: 360, CropMode: unitspec.CropFit}},
		Audio: []string{"a", "b"},
		Subtitles: []unitspec.Subtitle{
			{Type: unitspec.SubtitleText, Text: "云录制 Test", X: 10, Y: 380, Size: 32, Color: "#ffffff", Transparency: 100},
			{Type: unitspec.SubtitleTime, X: 330, Y: 380, Size: 24, Color: "#ffff00", Transparency: 80},
		},
		TimeZone: "Asia/Shanghai",
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 2)
	base := env.uploadCount("segment.")
	rec.waitUploads(t, base+1) // at least one whole segment with both sources

	pause := env.change(func(s *unitspec.Recording) { s.Paused = true })
	rec.waitLog(t, pausedLog, 1)
	<-time.After(2 * time.Second) // the paused span itself: it must leave no trace in the files
	resume := env.change(func(s *unitspec.Recording) { s.Paused = false })
	rec.waitLog(t, resumedLog, 1)
	after := env.uploadCount("segment.")
	rec.waitUploads(t, after+2) // the segment closed by the pause, and one after the resume
	stop := env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)

	start := firstFrame(t, res)
	recorded := env.servedAt(pause).Sub(start) + env.servedAt(stop).Sub(env.servedAt(resume))
	if d := math.Abs(float64(res.MediaMillis) - float64(recorded.Milliseconds())); d > 500 {
		t.Errorf("media %d ms, recorded minus paused %d ms; log:\n%s", res.MediaMillis, recorded.Milliseconds(), tailOf(env.Log()))
	}
	if res.FlowKB <= 0 {
		t.Errorf("flow %d KB", res.FlowKB)
	}
	for i, s := range res.Segments {
		if s.Index != i || s.Hash == "" || s.Millis <= 0 || s.Millis > 2000 || s.Start <= 0 {
			t.Errorf("segment %d: %+v", i, s)
		}
	}

	paths, fin := finalizeUploads(t, r, env, res, unitspec.FileMP4, 3)
	if d := os.Getenv("KEEP"); d != "" {
		env.mu.Lock()
		for name, b := range env.uploads {
			_ = os.WriteFile(filepath.Join(d, name), b, 0o644)
		}
		env.mu.Unlock()
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			_ = os.WriteFile(filepath.Join(d, filepath.Base(p)), b, 0o644)
		}
	}
	var total float64
	for i, p := range paths {
		info := probeFile(t, r, p)
		total += info.Duration
		v, a := streamOf(info, "video"), streamOf(info, "audio")
		if v == nil || v.Width != 640 || v.Height != 480 || v.FrameRate != "15/1" || v.CodecName != "h264" {
			t.Errorf("slice %d video: %+v", i+1, v)
		}
		if a == nil || a.CodecName != "aac" || a.SampleRate != "48000" || a.Channels != 2 {
			t.Errorf("slice %d audio: %+v", i+1, a)
		}
		// Slice n ends at the first keyframe at or after n*3 s; keyframes are at most 2 s apart.
		if end := total; i < len(paths)-1 && (end < float64(3*(i+1))-0.1 || end > float64(3*(i+1))+2.1) {
			t.Errorf("slice %d ends at %.3fs, want the first keyframe after %ds", i+1, end, 3*(i+1))
		}
		if fin.Slices[i].Millis <= 0 || fin.Slices[i].Hash == "" {
			t.Errorf("slice %d result %+v", i+1, fin.Slices[i])
		}
	}
	if len(paths) < 2 {
		t.Fatalf("%d slices, want several of 3 s", len(paths))
	}
	if math.Abs(total*1000-float64(res.MediaMillis)) > 500 {
		t.Errorf("slices last %.3fs in all, the capture recorded %d ms", total, res.MediaMillis)
	}

	// The last slice ends after the resume, with both sources live.
	last := paths[len(paths)-1]
	frame := frameRGB(t, last, probeFile(t, r, last).Duration-0.4, 640, 480)
	for _, c := range []struct {
		what string
		x, y int
		want rgb
	}{
		{"left cell (fill)", 160, 180, red},
		{"right cell (fit)", 480, 180, blue},
		{"right cell's padding", 480, 20, rgb{0x20, 0x40, 0x60}},
		{"background", 320, 470, rgb{0x20, 0x40, 0x60}},
	} {
		if got := pixel(frame, 640, c.x, c.y); !near(got, c.want, 40) {
			t.Errorf("%s at %d,%d: %v, want %v", c.what, c.x, c.y, got, c.want)
		}
	}
	for _, box := range []struct {
		what       string
		x0, x1, y0 int
	}{{"text subtitle", 10, 200, 380}, {"time subtitle", 330, 600, 380}} {
		differs := 0
		for y := box.y0; y < box.y0+28; y++ {
			for x := box.x0; x < box.x1; x++ {
				if !near(pixel(frame, 640, x, y), rgb{0x20, 0x40, 0x60}, 40) {
					differs++
				}
			}
		}
		if differs < 100 {
			t.Errorf("%s region: %d pixels differ from the plain background", box.what, differs)
		}
	}
	if out, err := exec.Command("ffmpeg", "-v", "info", "-ss", strconv.FormatFloat(probeFile(t, r, last).Duration-1.2, 'f', 3, 64),
		"-t", "1", "-i", last, "-af", "volumedetect", "-f", "null", "-").CombinedOutput(); err == nil {
		m := regexp.MustCompile(`mean_volume: (-?[\d.]+) dB`).FindSubmatch(out)
		// Each source's mono tone is -21 dB, -24 dB once spread on two channels (-3 dB each); their
		// sum, not attenuated by two, is about -21 dB. Halved (amix's default), it would be -27 dB.
		if v, _ := strconv.ParseFloat(string(m[1]), 64); m == nil || v < -22.5 {
			t.Errorf("mean volume %s dB: the two tones are not mixed at full level", m[1])
		}
	} else {
		t.Errorf("volumedetect: %v", err)
	}
}

// TestRecorderSourceDropsAndComesBack kills a source mid-recording: its cell shows a placeholder
// and the recording goes on; the source comes back on the same address and is shown again.
func TestRecorderSourceDropsAndComesBack(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	r := &Recorder{}
	src := rtmpSource(t, "green", 500)
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 320, Height: 240, FrameRate: 15},
		SegmentSeconds: 2, StallMillis: 500,
		Sources: []unitspec.Source{{ID: "g", URL: src.url}},
		Cells:   []unitspec.Cell{{Source: "g", X: 0, Y: 0, W: 320, H: 240, CropMode: unitspec.CropStretch}},
		Audio:   []string{"g"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 1)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment showing it
	src.Kill()
	rec.waitLog(t, cellHolds, 1)
	// A spec that does not validate changes nothing (the layout stays)...
	env.change(func(s *unitspec.Recording) { s.Cells[0].CropMode = 9 })
	rec.waitLog(t, regexp.MustCompile(`spec version 2 refused`), 1)
	rec.waitUploads(t, env.uploadCount("segment.")+1) // the recording goes on without it
	// The drop is the last placeholder before the restart (a loaded machine may show a short one
	// before the kill); the return is the first time the source shows after it.
	holds := rec.waitLog(t, cellHolds, 1)
	gone := holds[len(holds)-1:]
	goneAt, _ := strconv.ParseFloat(gone[0][2], 64)
	showsBefore := len(rec.waitLog(t, cellShows, 1))
	src.Start()
	back := [][]string{nil, nil}
	for _, m := range rec.waitLog(t, cellShows, showsBefore+1) {
		if at, _ := strconv.ParseFloat(m[2], 64); at > goneAt && back[1] == nil {
			back[1] = m
		}
	}
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment after it came back
	// ... but its stop is obeyed.
	env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)

	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP4, 300)
	if len(paths) != 1 {
		t.Fatalf("%d slices, want 1", len(paths))
	}
	backAt, _ := strconv.ParseFloat(back[1][2], 64)
	if backAt-goneAt < 1 {
		t.Fatalf("placeholder from %.3fs to %.3fs: too short to check", goneAt, backAt)
	}
	for _, c := range []struct {
		what string
		at   float64
		want rgb
	}{
		{"before the drop", goneAt - 0.8, green},
		{"while dropped", (goneAt + backAt) / 2, grey},
		{"after it came back", backAt + 0.5, green},
	} {
		if got := pixel(frameRGB(t, paths[0], c.at, 320, 240), 320, 160, 120); !near(got, c.want, 40) {
			t.Errorf("%s (%.3fs): %v, want %v", c.what, c.at, got, c.want)
		}
	}
}

// TestRecorderMP3 records the tones of three sources (HTTP, SRT and a file) into mp3 and slices it.
func TestRecorderMP3(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	dir := t.TempDir()
	file := filepath.Join(dir, "tone.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000",
		"-t", "2", "-c:a", "aac", file).CombinedOutput(); err != nil {
		t.Fatalf("make file source: %v %s", err, out)
	}
	r := &Recorder{FileRoot: dir}
	src, srt := httpSource(t, "yellow", 800), srtSource(t, "white", 1000)
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP3,
		Canvas:         unitspec.Canvas{Width: 320, Height: 240, FrameRate: 10},
		SegmentSeconds: 1,
		Sources:        []unitspec.Source{{ID: "h", URL: src.url}, {ID: "f", URL: file}, {ID: "s", URL: srt.url}},
		Audio:          []string{"h", "f", "s"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, receivingLog, 3)
	rec.waitUploads(t, env.uploadCount("segment.")+2)
	stop := env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	start := firstFrame(t, res)
	if d := math.Abs(float64(res.MediaMillis - env.servedAt(stop).Sub(start).Milliseconds())); d > 500 {
		t.Errorf("media %d ms, recorded %s", res.MediaMillis, env.servedAt(stop).Sub(start))
	}
	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP3, 1)
	if len(paths) < 2 {
		t.Fatalf("%d slices of 1 s", len(paths))
	}
	var total float64
	for _, p := range paths {
		info := probeFile(t, r, p)
		total += info.Duration
		if a := streamOf(info, "audio"); a == nil || a.CodecName != "mp3" || streamOf(info, "video") != nil {
			t.Errorf("%s: streams %+v", p, info.Streams)
		}
	}
	if math.Abs(total*1000-float64(res.MediaMillis)) > 500 {
		t.Errorf("slices last %.3fs, recorded %d ms", total, res.MediaMillis)
	}
}

// TestRecorderFinalizeLeavesOutUnreadableSegments: a segment whose length the capture reported is
// joined as it is; one without a length is read first, and left out when it cannot be read.
func TestRecorderFinalizeLeavesOutUnreadableSegments(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=yellow:s=160x120:r=10",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	broken := filepath.Join(dir, "broken.mp4")
	if err := os.WriteFile(broken, []byte("not an mp4 at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := newFakeEnv(t)
	env.inputs["measured"], env.inputs["unmeasured"], env.inputs["broken"] = clip, clip, broken
	spec := unitspec.Recording{Mode: unitspec.ModeFinalize, FileType: unitspec.FileMP4, SliceSeconds: 300, FileName: "f",
		Segments: []unitspec.Segment{{Index: 0, Hash: "measured", Millis: 1000}, {Index: 1, Hash: "unmeasured"}, {Index: 2, Hash: "broken"}}}
	raw, _ := json.Marshal(spec)
	r := &Recorder{}
	out, err := r.Run(context.Background(), agentapi.Unit{UnitID: 2, Epoch: 1, Capability: unitspec.CapRecorder, Spec: raw}, env)
	if err != nil {
		t.Fatalf("finalize: %v\n%s", err, env.Log())
	}
	fin := out.Data.(unitspec.FinalizeResult)
	if len(fin.Slices) != 1 || fin.Slices[0].Millis < 1800 || fin.Slices[0].Millis > 2200 {
		t.Errorf("slices %+v, want one of the two readable seconds", fin.Slices)
	}
	for _, want := range []string{"segment 2 left out", "2 segments joined into 1 slices"} {
		if !strings.Contains(env.Log(), want) {
			t.Errorf("the log lacks %q:\n%s", want, env.Log())
		}
	}
	if strings.Contains(env.Log(), "segment 1 left out") {
		t.Errorf("a readable segment was left out:\n%s", env.Log())
	}
}

// TestRecorderTakeover continues a capture whose earlier holder stored segments: the new segments
// are numbered after them and the result lists all.
func TestRecorderTakeover(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	dir := t.TempDir()
	file := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=yellow:s=160x120:r=10",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-metadata", "creation_time=2026-01-02T03:04:05Z", file).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	r := &Recorder{FileRoot: dir}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 160, Height: 120, FrameRate: 10},
		SegmentSeconds: 1,
		Sources:        []unitspec.Source{{ID: "f", URL: file}},
		Cells:          []unitspec.Cell{{Source: "f", W: 160, H: 120}},
	}
	env := newSpecEnv(t, spec)
	env.outputs = map[string]agentapi.Output{
		unitspec.SegmentOutput(0): {Hash: "h0"},
		unitspec.SegmentOutput(4): {Hash: "h4"},
		"log":                     {Hash: "other"},
	}
	env.inputs["h0"] = file // h4 cannot be read: its length is unknown
	rec := startCapture(t, r, env)
	rec.waitUploads(t, 1)
	env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	if len(res.Segments) < 3 {
		t.Fatalf("segments %+v", res.Segments)
	}
	if s := res.Segments[0]; s.Index != 0 || s.Hash != "h0" || s.Millis < 1900 || s.Millis > 2200 ||
		s.Start != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli() {
		t.Errorf("inherited segment 0: %+v", s)
	}
	if s := res.Segments[1]; s.Index != 4 || s.Millis != 0 {
		t.Errorf("inherited segment 4: %+v", s)
	}
	if s := res.Segments[2]; s.Index != 5 || env.uploadCount(unitspec.SegmentOutput(5)) != 1 {
		t.Errorf("first own segment %+v, uploads %v", s, env.uploadCount("segment."))
	}
	if env.uploadCount(unitspec.SegmentOutput(0)) != 0 {
		t.Error("an inherited segment was overwritten")
	}
}

func TestCheckCapture(t *testing.T) {
	good := func() unitspec.Recording {
		return unitspec.Recording{Mode: unitspec.ModeCapture, Canvas: unitspec.Canvas{Width: 641, Height: 361, FrameRate: 30},
			Sources: []unitspec.Source{{ID: "a", URL: "rtmp://h/a"}},
			Cells:   []unitspec.Cell{{Source: "a", X: 3, Y: 5, W: 101, H: 99}}, Audio: []string{"a"}}
	}
	s := good()
	if err := checkCapture(&s); err != nil {
		t.Fatal(err)
	}
	if s.Canvas.Width != 640 || s.Canvas.Height != 360 || s.Cells[0] != (unitspec.Cell{Source: "a", X: 2, Y: 4, W: 100, H: 98, CropMode: 1}) ||
		s.SegmentSeconds != 10 || s.StallMillis != 1000 {
		t.Errorf("defaults and rounding: %+v", s)
	}
	for _, c := range []struct {
		name string
		edit func(*unitspec.Recording)
		want string
	}{
		{"width", func(s *unitspec.Recording) { s.Canvas.Width = 5000 }, "canvas"},
		{"frame rate", func(s *unitspec.Recording) { s.Canvas.FrameRate = 60 }, "frame rate"},
		{"file type", func(s *unitspec.Recording) { s.FileType = 7 }, "file_type"},
		{"background", func(s *unitspec.Recording) { s.Canvas.Background = "red" }, "background"},
		{"cell source", func(s *unitspec.Recording) { s.Cells[0].Source = "zz" }, "no source"},
		{"crop mode", func(s *unitspec.Recording) { s.Cells[0].CropMode = 4 }, "crop_mode"},
		{"cell box", func(s *unitspec.Recording) { s.Cells[0].W = 0 }, "box"},
		{"audio source", func(s *unitspec.Recording) { s.Audio = []string{"zz"} }, "audio"},
		{"repeated id", func(s *unitspec.Recording) { s.Sources = append(s.Sources, s.Sources[0]) }, "repeated"},
		{"NUL in url", func(s *unitspec.Recording) { s.Sources[0].URL = "rtmp://a\x00b" }, "NUL"},
		{"subtitle size", func(s *unitspec.Recording) {
			s.Subtitles = []unitspec.Subtitle{{Type: 1, Size: 201, Transparency: 50}}
		}, "size"},
		{"transparency", func(s *unitspec.Recording) {
			s.Subtitles = []unitspec.Subtitle{{Type: 1, Size: 20, Transparency: 150}}
		}, "transparency"},
		{"subtitle type", func(s *unitspec.Recording) {
			s.Subtitles = []unitspec.Subtitle{{Type: 3, Size: 20}}
		}, "type"},
		{"time zone", func(s *unitspec.Recording) { s.TimeZone = "Mars/Base" }, "time_zone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.edit(&s)
			err := checkCapture(&s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one about %s", err, c.want)
			}
		})
	}
}

func TestRecorderRefusesBadUnits(t *testing.T) {
	r := &Recorder{}
	for _, c := range []struct {
		name string
		spec string
		env  agent.Env
	}{
		{"unknown mode", `{"mode":"transcode"}`, newSpecEnv(t, unitspec.Recording{})},
		{"unknown field", `{"mode":"capture","colour":1}`, newSpecEnv(t, unitspec.Recording{})},
		{"capture without a live spec", `{"mode":"capture"}`, newFakeEnv(t)},
		{"bad canvas", `{"mode":"capture","canvas":{"width":0,"height":10,"frame_rate":10}}`, newSpecEnv(t, unitspec.Recording{})},
		{"finalize without slices", `{"mode":"finalize","segments":[]}`, newFakeEnv(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Run(context.Background(), agentapi.Unit{Spec: json.RawMessage(c.spec)}, c.env)
			var f *agent.Failure
			if err == nil || !errorsAs(err, &f) || !f.Permanent {
				t.Errorf("error %v, want a permanent failure", err)
			}
		})
	}
}

func TestFileSourcesStayUnderTheRoot(t *testing.T) {
	dir := t.TempDir()
	inside := filepath.Join(dir, "a.mp4")
	if err := os.WriteFile(inside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "b.mp4")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.mp4")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		root, path string
		ok         bool
	}{
		{dir, inside, true},
		{dir, "file://" + inside, true},
		{dir, outside, false},
		{dir, dir + "/../" + filepath.Base(filepath.Dir(outside)) + "/b.mp4", false},
		{dir, link, false},
		{"", inside, false},
	} {
		g := &ingest{want: sourceWant{URL: c.path}, cfg: &Recorder{FileRoot: c.root}}
		_, _, err := g.inputArgs()
		if (err == nil) != c.ok {
			t.Errorf("root %q path %q: error %v, want ok=%v", c.root, c.path, err, c.ok)
		}
	}
	for _, u := range []string{"concat:a|b", "data:,x", "gopher://h/x", "subfile:,,start,0,end,1,,:/etc/passwd"} {
		g := &ingest{want: sourceWant{URL: u}, cfg: &Recorder{FileRoot: dir}}
		if _, _, err := g.inputArgs(); err == nil {
			t.Errorf("%q admitted", u)
		}
	}
}

func TestCanvasDrawing(t *testing.T) {
	for _, c := range []struct {
		r, g, b uint8
		want    yuv
	}{
		{0, 0, 0, yuv{16, 128, 128}},
		{255, 255, 255, yuv{235, 128, 128}},
		{255, 0, 0, yuv{81, 90, 240}},
		{0, 0, 255, yuv{41, 240, 110}},
	} {
		if got := rgbToYUV(c.r, c.g, c.b); got != c.want {
			t.Errorf("rgb %d,%d,%d: %v, want %v", c.r, c.g, c.b, got, c.want)
		}
	}
	f := newFrame(8, 4)
	src := newFrame(4, 4)
	for i := range src.pix {
		src.pix[i] = 200
	}
	f.blit(src.pix, 4, 4, 6, 2) // clipped to 2x2 at the bottom right
	y, u, _ := f.planes()
	for row := range 4 {
		for col := range 8 {
			want := byte(0)
			if row >= 2 && col >= 6 {
				want = 200
			}
			if y[row*8+col] != want {
				t.Fatalf("luma at %d,%d: %d, want %d", col, row, y[row*8+col], want)
			}
		}
	}
	if u[1*4+3] != 200 || u[0] != 0 {
		t.Errorf("chroma %v", u)
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	if got := timeText(time.Date(2026, 3, 1, 23, 30, 5, 0, time.UTC), loc); got != "2026-03-02 07:30:05" {
		t.Errorf("time subtitle %q", got)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestRecorderCost(t *testing.T) {
	four := unitspec.Recording{Mode: unitspec.ModeCapture, Canvas: unitspec.Canvas{Width: 1280, Height: 720, FrameRate: 30}}
	for i := range 4 {
		id := strconv.Itoa(i)
		four.Cells = append(four.Cells, unitspec.Cell{Source: id})
		four.Audio = append(four.Audio, id)
	}
	small := four
	small.Canvas = unitspec.Canvas{Width: 640, Height: 360, FrameRate: 15}
	mp3 := four
	mp3.FileType = unitspec.FileMP3
	fin := unitspec.Recording{Mode: unitspec.ModeFinalize}
	cost := func(s unitspec.Recording) float64 {
		raw, _ := json.Marshal(s)
		return RecorderCost(agentapi.Unit{Spec: raw})
	}
	for _, c := range []struct {
		name     string
		spec     unitspec.Recording
		min, max float64
	}{
		{"four sources into 720p30", four, 0.45, 0.55},
		{"a smaller canvas costs less", small, 0.15, 0.25},
		{"mp3", mp3, 0.05, 0.15},
		{"finalize", fin, 0.01, 0.1},
	} {
		if got := cost(c.spec); got < c.min || got > c.max {
			t.Errorf("%s: cost %.3f, want %.2f..%.2f", c.name, got, c.min, c.max)
		}
	}
	if got := RecorderCost(agentapi.Unit{Spec: json.RawMessage(`{"mode":`)}); got != costFinalize {
		t.Errorf("undecodable spec costs %.3f", got)
	}
}

// TestRecorderLayoutChangesLive swaps two cells, then gives one source the whole canvas, while
// recording: each layout shows from the frame after it was read, and the source whose box grew
// is shown throughout (its old process is kept until the new size runs).
func TestRecorderLayoutChangesLive(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	r := &Recorder{}
	a, b := hlsSource(t, "red", 440), hlsSource(t, "blue", 660)
	left, right, whole := unitspec.Cell{W: 160, H: 180}, unitspec.Cell{X: 160, W: 160, H: 180}, unitspec.Cell{W: 320, H: 180}
	at := func(c unitspec.Cell, src string) unitspec.Cell { c.Source = src; return c }
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 320, Height: 180, FrameRate: 15},
		SegmentSeconds: 1, StallMillis: 1500,
		Sources: []unitspec.Source{{ID: "a", URL: a.url}, {ID: "b", URL: b.url}},
		Cells:   []unitspec.Cell{at(left, "a"), at(right, "b")},
		Audio:   []string{"a", "b"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 2)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment with both sources
	env.change(func(s *unitspec.Recording) { s.Cells = []unitspec.Cell{at(right, "a"), at(left, "b")} })
	swapped := rec.waitLog(t, regexp.MustCompile(`spec version 2 applied at ([\d.]+)s`), 1)
	rec.waitUploads(t, env.uploadCount("segment.")+2)
	env.change(func(s *unitspec.Recording) { s.Cells = []unitspec.Cell{at(whole, "a")} })
	grown := rec.waitLog(t, regexp.MustCompile(`spec version 3 applied at ([\d.]+)s`), 1)
	rec.waitLog(t, regexp.MustCompile(`source a: receiving`), 2) // the new size runs
	rec.waitUploads(t, env.uploadCount("segment.")+2)
	env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	if strings.Contains(env.Log(), "placeholder") {
		t.Errorf("a layout change showed a placeholder:\n%s", env.Log())
	}

	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP4, 300)
	swapAt, _ := strconv.ParseFloat(swapped[0][1], 64)
	growAt, _ := strconv.ParseFloat(grown[0][1], 64)
	end := probeFile(t, r, paths[0]).Duration
	for _, c := range []struct {
		what        string
		at          float64
		left, right rgb
	}{
		{"first layout", swapAt - 0.4, red, blue},
		{"swapped", swapAt + 0.4, blue, red},
		{"swapped, later", growAt - 0.4, blue, red},
		{"grown", growAt + 0.2, red, red},
		{"grown, at the end", end - 0.3, red, red},
	} {
		frame := frameRGB(t, paths[0], c.at, 320, 180)
		if l, r := pixel(frame, 320, 80, 90), pixel(frame, 320, 240, 90); !near(l, c.left, 40) || !near(r, c.right, 40) {
			t.Errorf("%s (%.3fs): left %v right %v, want %v and %v", c.what, c.at, l, r, c.left, c.right)
		}
	}
}

// TestRecorderBadSourcesDoNotHarmTheRecording pulls, beside a good source, one that serves garbage
// and one that accepts the connection and then says nothing: their cells show placeholders, their
// processes are restarted by the read and stale timeouts, and the recording keeps real time.
func TestRecorderBadSourcesDoNotHarmTheRecording(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=orange:s=160x120:r=15",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = byte(i * 7919)
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(garbage.Close)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); silent.Close(); held.Wait() })
	held.Go(func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			held.Go(func() { <-stop; conn.Close() }) // accept, then never answer
		}
	})
	r := &Recorder{FileRoot: dir, ReadTimeout: time.Second, StaleTimeout: 2 * time.Second}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 480, Height: 120, FrameRate: 15},
		SegmentSeconds: 1, StallMillis: 500,
		Sources: []unitspec.Source{{ID: "good", URL: clip}, {ID: "garbage", URL: garbage.URL + "/live.flv"},
			{ID: "silent", URL: "rtmp://" + silent.Addr().String() + "/live/x"}},
		Cells: []unitspec.Cell{{Source: "good", W: 160, H: 120}, {Source: "garbage", X: 160, W: 160, H: 120},
			{Source: "silent", X: 320, W: 160, H: 120}},
		Audio: []string{"good", "garbage", "silent"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, regexp.MustCompile(`source garbage: input ended`), 2)
	rec.waitLog(t, regexp.MustCompile(`source silent: input ended`), 1)
	rec.waitUploads(t, env.uploadCount("segment.")+1)
	stopped := env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	start := firstFrame(t, res)
	if d := math.Abs(float64(res.MediaMillis - env.servedAt(stopped).Sub(start).Milliseconds())); d > 500 {
		t.Errorf("media %d ms, recorded %s", res.MediaMillis, env.servedAt(stopped).Sub(start))
	}
	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP4, 300)
	frame := frameRGB(t, paths[0], probeFile(t, r, paths[0]).Duration-0.3, 480, 120)
	for i, want := range []rgb{{255, 165, 0}, grey, grey} {
		if got := pixel(frame, 480, 80+160*i, 60); !near(got, want, 40) {
			t.Errorf("cell %d: %v, want %v", i, got, want)
		}
	}
}

// TestRecorderStoresTheSegmentInProgressWhenCancelled: when the unit's context ends (the agent
// shuts down), the segment being written is finished and uploaded before Run returns, so the next
// holder loses nothing of it.
func TestRecorderStoresTheSegmentInProgressWhenCancelled(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=purple:s=160x120:r=10",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	r := &Recorder{FileRoot: dir}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 160, Height: 120, FrameRate: 10},
		SegmentSeconds: 60, // the whole recording is the segment in progress
		Sources:        []unitspec.Source{{ID: "c", URL: clip}},
		Cells:          []unitspec.Cell{{Source: "c", W: 160, H: 120}},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 1)
	// The recorder reads its spec every 500 ms: three more reads is more than a second recorded.
	polls := env.pollCount()
	testutil.Eventually(t, 10*time.Second, func() error {
		if env.pollCount() < polls+3 {
			return fmt.Errorf("recording")
		}
		return nil
	})
	rec.cancel()
	<-rec.done
	if rec.err == nil {
		t.Fatal("a cancelled capture reported success")
	}
	env.mu.Lock()
	data := env.uploads[unitspec.SegmentOutput(0)]
	env.mu.Unlock()
	if len(data) == 0 {
		t.Fatalf("the segment in progress was not stored; log:\n%s", env.Log())
	}
	p := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if d := probeFile(t, r, p).Duration; d < 1 || d > 30 {
		t.Errorf("stored segment lasts %.3fs", d)
	}
}

// TestRecorderSourceWithoutAudio: a source named in the audio list that has no audio (a screen
// share) is still shown; its process is restarted without the audio it cannot give.
func TestRecorderSourceWithoutAudio(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	dir := t.TempDir()
	clip := filepath.Join(dir, "screen.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=160x120:r=10",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	r := &Recorder{FileRoot: dir}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 160, Height: 120, FrameRate: 10},
		SegmentSeconds: 1,
		Sources:        []unitspec.Source{{ID: "screen", MediaType: unitspec.MediaScreen, URL: clip}},
		Cells:          []unitspec.Cell{{Source: "screen", W: 160, H: 120}},
		Audio:          []string{"screen"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 1)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment showing it
	env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP4, 300)
	info := probeFile(t, r, paths[0])
	if streamOf(info, "audio") == nil {
		t.Error("the mp4 has no audio track (silence is expected)")
	}
	if got := pixel(frameRGB(t, paths[0], info.Duration-0.3, 160, 120), 160, 80, 60); !near(got, rgb{255, 255, 255}, 30) {
		t.Errorf("centre %v, want white", got)
	}
}

// TestRecorderSourceStallsAndResumes freezes a live HLS source (SIGSTOP: its connection stays, its
// playlist stops growing): its cell shows the placeholder after StallMillis, and the source again
// once it is let go on (SIGCONT), without the recording stopping or waiting.
func TestRecorderSourceStallsAndResumes(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	r := &Recorder{}
	src := hlsSource(t, "blue", 440)
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 320, Height: 180, FrameRate: 15},
		SegmentSeconds: 1, StallMillis: 500,
		Sources: []unitspec.Source{{ID: "b", URL: src.url}},
		Cells:   []unitspec.Cell{{Source: "b", W: 320, H: 180}},
		Audio:   []string{"b"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 1)
	rec.waitUploads(t, env.uploadCount("segment.")+1)
	if err := src.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// HLS hides a stall for the segments the recorder had already fetched, then the placeholder.
	stalled := rec.waitLog(t, cellHolds, 1)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // the recording goes on meanwhile
	if err := src.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	back := rec.waitLog(t, cellShows, 2)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment after it resumed
	stop := env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	start := firstFrame(t, res)
	if d := math.Abs(float64(res.MediaMillis - env.servedAt(stop).Sub(start).Milliseconds())); d > 500 {
		t.Errorf("media %d ms, recorded %s: the stall cost recording time", res.MediaMillis, env.servedAt(stop).Sub(start))
	}
	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP4, 300)
	stallAt, _ := strconv.ParseFloat(stalled[0][2], 64)
	backAt, _ := strconv.ParseFloat(back[1][2], 64)
	for _, c := range []struct {
		what string
		at   float64
		want rgb
	}{
		{"stalled", (stallAt + backAt) / 2, grey},
		{"resumed", backAt + 0.3, blue},
	} {
		if got := pixel(frameRGB(t, paths[0], c.at, 320, 180), 320, 160, 90); !near(got, c.want, 40) {
			t.Errorf("%s (%.3fs): %v, want %v", c.what, c.at, got, c.want)
		}
	}
}

// firstFrame is the wall-clock time of the recording's first frame, from its first segment: the
// recorder starts its clock once its sources and fonts are set up, a moment the test cannot see.
func firstFrame(t testing.TB, res unitspec.CaptureResult) time.Time {
	t.Helper()
	if len(res.Segments) == 0 || res.Segments[0].Index != 0 || res.Segments[0].Start <= 0 {
		t.Fatalf("no first segment: %+v", res.Segments)
	}
	return time.UnixMilli(res.Segments[0].Start)
}

// TestSourcesAreReadOnlyAsMedia: a source's address answers with an image, a text file and an HLS
// playlist naming a local file; ffmpeg, run with the ingest's input options, opens none of them,
// while a real media file at the same kind of address opens.
func TestSourcesAreReadOnlyAsMedia(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	mk := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, append(args, filepath.Join(dir, name))...)...).CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v %s", name, err, out)
		}
	}
	mk("clip.mp4", "-f", "lavfi", "-i", "color=c=red:s=64x48:r=5", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
	mk("image.png", "-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1")
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("\x1b[31mSECRET\x1b[0m key=value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	playlist := "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile://" + filepath.Join(dir, "clip.mp4") + "\n#EXT-X-ENDLIST\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/list.m3u8":
			_, _ = io.WriteString(w, playlist)
		default:
			http.ServeFile(w, r, filepath.Join(dir, filepath.Base(r.URL.Path)))
		}
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path string
		ok   bool
	}{
		{"/clip.mp4", true}, {"/image.png", false}, {"/secret.txt", false}, {"/list.m3u8", false},
	} {
		g := &ingest{want: sourceWant{URL: srv.URL + c.path}, cfg: &Recorder{}}
		in, input, err := g.inputArgs()
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"-v", "error", "-nostdin"}, in...)
		args = append(args, "-i", input, "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-")
		out, err := exec.Command("ffmpeg", args...).CombinedOutput()
		if (err == nil) != c.ok {
			t.Errorf("%s: ffmpeg error %v (%s), want opened %v", c.path, err, bytes.TrimSpace(out), c.ok)
		}
	}
}
