package executor

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/unitspec"
)

// debianPython is the interpreter GStreamer's Python bindings are installed for (python3-gst-1.0);
// another python3 on PATH (a pyenv one) would not find them.
const debianPython = "/usr/bin/python3"

// rtspPackages are the Debian packages the RTSP source needs (scripts/test.sh installs them).
const rtspPackages = "gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly"

// rtspServer is GStreamer's RTSP server (testdata/rtsp_server.py) serving a solid colour in H.264
// and a tone in AAC on loopback, as an IP camera does. It can be killed and started again on the
// same port, as a camera that drops off the network and comes back.
type rtspServer struct {
	t     testing.TB
	color string // rrggbb
	freq  int
	port  int // 0 until the first start has picked one
	url   string

	cmd    *exec.Cmd
	exited chan error
}

// rtspSource starts an RTSP server on a free loopback port; it is killed when the test ends. Without
// the GStreamer packages the test is skipped, or fails under CI=true.
func rtspSource(t testing.TB, color string, freq int) *rtspServer {
	t.Helper()
	s := &rtspServer{t: t, color: color, freq: freq}
	s.start()
	t.Cleanup(s.kill)
	return s
}

// readyWriter keeps what the server prints and closes ready at the first full line (the server
// prints "listening PORT" once it accepts connections).
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.IndexByte(w.buf.Bytes(), '\n') >= 0 {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var listeningLine = regexp.MustCompile(`^listening (\d+)\n`)

// start runs the server (again, after kill) and returns once it listens.
func (s *rtspServer) start() {
	t := s.t
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("no RTSP server (%s), and CI=true forbids skipping: install %s", why, rtspPackages)
		}
		t.Skipf("no RTSP server (%s): install %s", why, rtspPackages)
	}
	if _, err := os.Stat(debianPython); err != nil {
		missing(err.Error())
	}
	out := &readyWriter{ready: make(chan struct{})}
	var stderr bytes.Buffer
	s.cmd = exec.Command(debianPython, filepath.Join("testdata", "rtsp_server.py"), strconv.Itoa(s.port), s.color, strconv.Itoa(s.freq))
	s.cmd.Stdout, s.cmd.Stderr = out, &stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start the RTSP server: %v", err)
	}
	s.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan<- error) { exited <- cmd.Wait() }(s.cmd, s.exited)
	select {
	case <-out.ready:
	case err := <-s.exited:
		s.cmd = nil
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 3 {
			missing(stderr.String())
		}
		t.Fatalf("the RTSP server ended before listening: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		s.kill()
		t.Fatalf("the RTSP server did not listen within 30s: %s", stderr.String())
	}
	m := listeningLine.FindStringSubmatch(out.String())
	if m == nil {
		s.kill()
		t.Fatalf("the RTSP server said %q", out.String())
	}
	s.port, _ = strconv.Atoi(m[1])
	s.url = fmt.Sprintf("rtsp://127.0.0.1:%d/live", s.port)
}

// kill stops the server (until start): its clients' connections end.
func (s *rtspServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// meanVolume is the mean volume (dB) of a file's audio from second from, for length seconds.
func meanVolume(t testing.TB, path string, from, length float64) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "info", "-ss", strconv.FormatFloat(from, 'f', 3, 64),
		"-t", strconv.FormatFloat(length, 'f', 3, 64), "-i", path, "-vn", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("volumedetect: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`mean_volume: (-?[\d.]+|-inf) dB`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("volumedetect said nothing of the volume:\n%s", out)
	}
	if string(m[1]) == "-inf" {
		return math.Inf(-1)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestRecorderRTSPSource records a camera pulled over RTSP (GStreamer's RTSP server: H.264 and AAC
// in RTP, interleaved in the RTSP connection as the recorder asks with -rtsp_transport tcp): its
// colour fills its cell and its tone is in the audio. Then the server dies: the cell shows the
// placeholder, the audio is silence, and the recording goes on; the server comes back on the same
// address, and the recorder pulls the camera again and shows it.
func TestRecorderRTSPSource(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel() // real-time recordings: mostly waiting
	r := &Recorder{}
	src := rtspSource(t, "00ffff", 550)
	cyan := rgb{0, 255, 255}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 320, Height: 180, FrameRate: 15},
		SegmentSeconds: 1, StallMillis: 500,
		Sources: []unitspec.Source{{ID: "cam", MediaType: unitspec.MediaCamera, URL: src.url}},
		Cells:   []unitspec.Cell{{Source: "cam", W: 320, H: 180}},
		Audio:   []string{"cam"},
	}
	env := newSpecEnv(t, spec)
	rec := startCapture(t, r, env)
	rec.waitLog(t, cellShows, 1)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment showing it
	src.kill()
	rec.waitLog(t, cellHolds, 1)
	rec.waitUploads(t, env.uploadCount("segment.")+2) // the recording goes on without it
	// The drop is the last placeholder before the restart (a loaded machine may show a short one
	// before the kill); the return is the first time the source shows after it.
	holds := rec.waitLog(t, cellHolds, 1)
	goneAt, _ := strconv.ParseFloat(holds[len(holds)-1][2], 64)
	showsBefore := len(rec.waitLog(t, cellShows, 1))
	src.start()
	backAt := -1.0
	for _, m := range rec.waitLog(t, cellShows, showsBefore+1) {
		if at, _ := strconv.ParseFloat(m[2], 64); at > goneAt && backAt < 0 {
			backAt = at
		}
	}
	rec.waitUploads(t, env.uploadCount("segment.")+2) // a whole segment after it came back
	stop := env.change(func(s *unitspec.Recording) { s.Stopped = true })
	res := rec.wait(t)
	start := firstFrame(t, res)
	if d := math.Abs(float64(res.MediaMillis - env.servedAt(stop).Sub(start).Milliseconds())); d > 500 {
		t.Errorf("media %d ms, recorded %s: the drop cost recording time", res.MediaMillis, env.servedAt(stop).Sub(start))
	}
	if res.FlowKB <= 0 {
		t.Errorf("flow %d KB from the RTSP source", res.FlowKB)
	}

	paths, _ := finalizeUploads(t, r, env, res, unitspec.FileMP4, 300)
	if len(paths) != 1 {
		t.Fatalf("%d slices, want 1", len(paths))
	}
	info := probeFile(t, r, paths[0])
	if v := streamOf(info, "video"); v == nil || v.Width != 320 || v.Height != 180 || v.CodecName != "h264" {
		t.Errorf("video %+v", v)
	}
	if a := streamOf(info, "audio"); a == nil || a.CodecName != "aac" || a.SampleRate != "48000" || a.Channels != 2 {
		t.Errorf("audio %+v", a)
	}
	if backAt-goneAt < 1 {
		t.Fatalf("placeholder from %.3fs to %.3fs: too short to check", goneAt, backAt)
	}
	for _, c := range []struct {
		what string
		at   float64
		want rgb
	}{
		{"before the drop", goneAt - 0.8, cyan},
		{"while dropped", (goneAt + backAt) / 2, grey},
		{"after it came back", backAt + 0.5, cyan},
	} {
		got := pixel(frameRGB(t, paths[0], c.at, 320, 180), 320, 160, 90)
		t.Logf("%s (%.3fs): centre %v", c.what, c.at, got)
		if !near(got, c.want, 40) {
			t.Errorf("%s (%.3fs): %v, want %v", c.what, c.at, got, c.want)
		}
	}
	// The camera's tone (audiotestsrc's sine at its default volume, about -8 dB) is heard before the
	// drop and after the return; while the camera is gone the mix is silence (-91 dB).
	for _, c := range []struct {
		what     string
		from, to float64
		loud     bool
	}{
		{"before the drop", goneAt - 1.6, goneAt - 0.8, true},
		{"while dropped", goneAt + 0.3, backAt - 0.3, false},
		{"after it came back", backAt + 0.3, info.Duration - 0.2, true},
	} {
		if c.to-c.from < 0.3 {
			t.Fatalf("%s: %.3fs to %.3fs is too short to hear", c.what, c.from, c.to)
		}
		v := meanVolume(t, paths[0], c.from, c.to-c.from)
		t.Logf("%s (%.3fs to %.3fs): mean volume %.1f dB", c.what, c.from, c.to, v)
		if c.loud && v < -30 || !c.loud && v > -60 {
			t.Errorf("%s (%.3fs to %.3fs): mean volume %.1f dB, want the tone: %v", c.what, c.from, c.to, v, c.loud)
		}
	}
}
