package recording_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/recording"
	"taskcenter/internal/testutil"
	"taskcenter/internal/unitspec"
)

// killableRTMPSource is rtmpSource with a way to stop it: the ffmpeg RTMP listener is killed and
// nothing listens on its port any more.
func killableRTMPSource(t testing.TB, colour string, freq int) (url string, kill func()) {
	t.Helper()
	s := newRTMPListener(t, colour, freq)
	return s.url, s.Kill
}

// TestEndToEndTimeoutWhenSourcesStopDelivering: the group's registry still lists the user's camera,
// but its stream ends. The real recorder reports that no source delivers, and the recording stops by
// itself after its timeout, with the reason in query; what was recorded before is kept.
func TestEndToEndTimeoutWhenSourcesStopDelivering(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("real-time recording")
	}
	t.Parallel() // real time, mostly waiting: go test runs GOMAXPROCS such tests at once
	// A stall of 1 s instead of 3.5: the silence is reported sooner.
	e := sqliteEnv(t, func(c *recording.Config) { c.StallMillis = 1000 })
	e.runEngine()
	e.runRecorder("rec")
	c := e.login()
	url, kill := killableRTMPSource(t, "green", 440)
	e.publish("g", "a", "cam", unitspec.MediaCamera, url)
	id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "idle", "width": 320, "height": 180,
		"frame_rate": 15, "timeout": 5}))["record_id"].(string) // the least timeout the document allows
	ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a", "media_id": "cam"}},
		"audio_list": []any{map[string]any{"user_id": "a"}}}))
	e.waitCaptureLog(id, "1 of 1 sources delivering")
	e.waitSegments(id, 2)
	if st, item := c.status(id); st != recording.StatusRecording {
		t.Fatalf("a recording whose source delivers: status %d %v", st, item)
	}
	// Until the source connected the recorder reported it silent too: wait for its report after the kill.
	silent := regexp.MustCompile(`0 of 1 sources delivering`)
	before := len(e.waitCaptureLogMatches(id, silent, 0))
	kill()
	e.waitCaptureLogMatches(id, silent, before+1)
	var reason string
	testutil.Eventually(t, 60*time.Second, func() error {
		st, item := c.status(id)
		if st == recording.StatusRecording {
			return fmt.Errorf("still recording")
		}
		reason = fmt.Sprint(item["reason"])
		return nil
	})
	if !strings.HasPrefix(reason, "timeout: the recorder received nothing") {
		t.Fatalf("reason %q", reason)
	}
	if g := ok(t, e.form(recording.PathGroup, map[string]string{"group_id": "g"}))["data"]; !strings.Contains(fmt.Sprint(g), "cam") {
		t.Fatalf("the registry should still list the camera: %v", g)
	}
	paths := e.waitComplete(c, id, "idle", ".mp4")
	if d := probeDuration(t, paths[0]); d < 1.5 {
		t.Fatalf("the file lasts %.2f s: what came before the silence is lost", d)
	}
}
