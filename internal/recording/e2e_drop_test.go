package recording_test

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

// rtmpListener is an ffmpeg RTMP listener of a colour and a tone on a fixed loopback port, run
// again each time it exits until the test kills it (testutil.Restarting: ffmpeg's listen mode serves
// one client per run, and a pull that failed on a loaded machine would otherwise find nothing
// listening); Start brings it back, as a stream that drops and comes back.
type rtmpListener struct {
	*testutil.Restarting
	url string
}

func newRTMPListener(t testing.TB, colour string, freq int) *rtmpListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, colour)
	// 30 frames a second, as cameras send: a pull probes a stream by a count of its first frames,
	// so it shows sooner than a stream of 15 (about 1.8 s against 3.2 s here).
	return &rtmpListener{url: url, Restarting: testutil.StartRestarting(t, "ffmpeg", "-nostdin", "-v", "error",
		"-re", "-f", "lavfi", "-i", "color=c="+colour+":s=320x180:r=30",
		"-f", "lavfi", "-i", "sine=frequency="+strconv.Itoa(freq)+":sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-f", "flv", "-listen", "1", url)}
}

// waitCaptureLogMatches waits until the capture's log holds n matches of re and returns them.
func (e *env) waitCaptureLogMatches(recordID string, re *regexp.Regexp, n int) [][]string {
	e.t.Helper()
	var got [][]string
	testutil.Eventually(e.t, 60*time.Second, func() error {
		us, _, err := e.st.ListUnits(context.Background(), store.UnitFilter{JobID: mustInt(recordID)})
		if err != nil {
			return err
		}
		for _, u := range us {
			if u.Index == 0 {
				if got = re.FindAllStringSubmatch(u.Log, -1); len(got) >= n {
					return nil
				}
			}
		}
		return fmt.Errorf("the capture's log has %d of %d lines matching %s", len(got), n, re)
	})
	return got
}

// TestEndToEndSourceDropsAndComesBack: through the whole stack (a WebSocket client, the server, a
// real recorder agent, the storage calls), a user's stream drops mid-recording and comes back. The
// recording goes on (status 2 throughout, a placeholder while the stream is gone), the recorder
// reports the source's health, and the downloaded file shows the source, the placeholder and the
// source again at the media times the recorder logged.
func TestEndToEndSourceDropsAndComesBack(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("real-time recording")
	}
	t.Parallel() // real time, mostly waiting: go test runs GOMAXPROCS such tests at once
	// A stall of 1 s instead of 3.5: the placeholder shows sooner.
	e := sqliteEnv(t, func(c *recording.Config) { c.StallMillis = 1000 })
	e.runEngine()
	e.runRecorder("rec")
	c := e.login()
	src := newRTMPListener(t, "green", 500)
	e.publish("g", "a", "cam", unitspec.MediaCamera, src.url)
	id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "drop", "width": 320, "height": 180,
		"frame_rate": 15, "timeout": 600}))["record_id"].(string)
	ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a", "media_id": "cam"}},
		"audio_list": []any{map[string]any{"user_id": "a"}}}))
	shows := regexp.MustCompile(`cell 0 shows source a/cam from ([0-9.]+)s`)
	holds := regexp.MustCompile(`cell 0 shows a placeholder for source a/cam from ([0-9.]+)s`)
	e.waitCaptureLogMatches(id, shows, 1)
	e.waitSegments(id, e.segments(id)+2)
	src.Kill()
	e.waitCaptureLogMatches(id, holds, 1)
	e.waitCaptureLog(id, "0 of 1 sources delivering")
	e.waitSegments(id, e.segments(id)+1)
	if st, item := c.status(id); st != recording.StatusRecording {
		t.Fatalf("while the source is gone: status %d %v", st, item)
	}
	// The drop is the last placeholder before the restart (a loaded machine may show a short one
	// earlier); the return is the first time the source shows after it.
	gone := e.waitCaptureLogMatches(id, holds, 1)
	goneAt, _ := strconv.ParseFloat(gone[len(gone)-1][1], 64)
	showsBefore := len(e.waitCaptureLogMatches(id, shows, 1))
	src.Start()
	back := e.waitCaptureLogMatches(id, shows, showsBefore+1)
	backAt := -1.0
	for _, m := range back {
		if at, _ := strconv.ParseFloat(m[1], 64); at > goneAt && backAt < 0 {
			backAt = at
		}
	}
	e.waitSegments(id, e.segments(id)+2)
	ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
	paths := e.waitComplete(c, id, "drop", ".mp4")
	if len(paths) != 1 {
		t.Fatalf("%d slices, want 1", len(paths))
	}
	if backAt-goneAt < 1 {
		t.Fatalf("placeholder from %.3fs to %.3fs: too short to check", goneAt, backAt)
	}
	green, grey := rgb{0, 128, 0}, rgb{64, 64, 64}
	for _, tc := range []struct {
		what string
		at   float64
		want rgb
	}{
		{"before the drop", goneAt - 0.8, green},
		{"while dropped", (goneAt + backAt) / 2, grey},
		{"after it came back", backAt + 0.5, green},
	} {
		if got := pixel(frameRGB(t, paths[0], tc.at, 320, 180), 320, 160, 90); !near(got, tc.want, 40) {
			t.Errorf("%s (%.3fs): %v, want %v", tc.what, tc.at, got, tc.want)
		}
	}
	if _, item := c.status(id); strings.HasPrefix(fmt.Sprint(item["reason"]), "timeout") {
		t.Fatalf("stopped by the timeout: %v", item)
	}
}
