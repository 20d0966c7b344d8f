package recording_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// TestManualRecording: a client of the document logs in, inits a recording, lays out two users,
// sets subtitles, pauses, resumes and stops it; a recorder (acting through the real agent protocol)
// follows the live spec, uploads a real segment, completes; the finalize joins the segments with
// ffmpeg; the status reaches 6; the storage calls list, download (with Range), measure and delete
// the file.
func TestManualRecording(t *testing.T) {
	needFFmpeg(t)
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.dial()
		if r := c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}); code(r) != recording.CodeNotLoggedIn {
			t.Fatalf("init before login: %v", r)
		}
		ok(t, c.do(map[string]any{"id": recording.CmdLogin, "app_id": e.appID, "token": e.token()}))
		e.publish("g", "jack", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1:1935/live/jack")
		e.publish("g", "paul", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1:1935/live/paul")
		e.publish("g", "paul", "mic", 1, "rtmp://127.0.0.1:1935/live/paulmic")

		r := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "lesson", "width": 1280,
			"height": 720, "frame_rate": 25, "file_duration": 15}))
		id := r["record_id"].(string)
		if st, _ := c.status(id); st != recording.StatusInit {
			t.Fatalf("status after init %d", st)
		}
		// The document's own example layout, ids as strings, user_id of video as a number.
		layout := `{"business":"RE","id":"4102","record_id":"` + id + `","seq":"L",
			"audio_list":[{"user_id":"jack","media_id":"cam"},{"user_id":"paul"}],
			"video_list":[{"user_id":"jack","media_id":"cam","media_type":2,"crop_mode":3,"w":640,"h":720},
			              {"user_id":"paul","media_id":"cam","media_type":2,"crop_mode":2,"x":640,"w":640,"h":720}]}`
		if r := c.send([]byte(layout)); code(r) != 0 || r["seq"] != "L" || r["id"].(float64) != 8198 {
			t.Fatalf("layout: %v", r)
		}
		if st, _ := c.status(id); st != recording.StatusRecording {
			t.Fatalf("status after the first layout %d", st)
		}

		rec := e.recorder("rec-1")
		u := rec.lease()
		spec, _ := rec.spec(u)
		if spec.Mode != unitspec.ModeCapture || spec.RecordID != id || len(spec.Cells) != 2 || len(spec.Audio) != 2 ||
			spec.Canvas != (unitspec.Canvas{Width: 1280, Height: 720, FrameRate: 25}) || spec.Cells[1].X != 640 || spec.Cells[1].CropMode != 2 {
			t.Fatalf("capture spec %+v", spec)
		}
		v0 := spec.Version
		ok(t, c.do(map[string]any{"id": recording.CmdSubtitles, "record_id": id, "subtitle_list": []any{
			map[string]any{"type": 1, "content": "课堂 Jack", "color": "#009cff", "x": 20, "y": 50, "transparency": 80, "size": 25},
			map[string]any{"type": 2, "color": 0xffffff, "x": 20, "y": 600}}}))
		spec, _ = rec.spec(u)
		if spec.Version <= v0 || len(spec.Subtitles) != 2 || spec.Subtitles[0].Text != "课堂 Jack" || spec.Subtitles[0].Color != "#009cff" ||
			spec.Subtitles[1].Type != unitspec.SubtitleTime || spec.Subtitles[1].Color != "#ffffff" {
			t.Fatalf("spec after subtitles %+v", spec.Subtitles)
		}
		ok(t, c.do(map[string]any{"id": recording.CmdPause, "record_id": id}))
		if spec, _ = rec.spec(u); !spec.Paused {
			t.Fatal("pause did not reach the spec")
		}
		if _, item := c.status(id); item["paused"] != true {
			t.Fatalf("query after pause %v", item)
		}
		ok(t, c.do(map[string]any{"id": recording.CmdResume, "record_id": id}))
		if spec, _ = rec.spec(u); spec.Paused {
			t.Fatal("resume did not reach the spec")
		}

		seg := segment(t, t.TempDir(), "red", 2)
		out := rec.upload(u, unitspec.SegmentOutput(0), seg)

		// A second connection of the app sees the recording; a connection of another app does not.
		c2 := e.login()
		if st, _ := c2.status(id); st != recording.StatusRecording {
			t.Fatalf("second connection sees status %d", st)
		}
		other := e.otherApp()
		if r := other.do(map[string]any{"id": recording.CmdStop, "record_id": id}); code(r) != recording.CodeNotFound {
			t.Fatalf("another app's stop: %v", r)
		}

		stop := ok(t, c2.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		if stop["record_id"] != id || stop["flow"].(float64) != float64(len(seg)/1024) {
			t.Fatalf("stop answer %v", stop)
		}
		if r := c.do(map[string]any{"id": recording.CmdPause, "record_id": id}); code(r) != recording.CodeBadState {
			t.Fatalf("pause after stop: %v", r)
		}
		if spec, _ = rec.spec(u); !spec.Stopped {
			t.Fatal("stop did not reach the spec")
		}
		if st, _ := c.status(id); st != recording.StatusQueued {
			t.Fatalf("status after stop %d", st)
		}
		rec.complete(u, unitspec.CaptureResult{Segments: []unitspec.Segment{{Hash: out.Hash, Index: 0, Millis: 2000}}, MediaMillis: 2000, FlowKB: 7})

		fu := rec.lease() // Advance releases the finalize once the capture completed
		if fu.UnitID == u.UnitID {
			t.Fatal("leased the capture again")
		}
		res := rec.finalize(fu)
		st, item := c.status(id)
		if st != recording.StatusComplete || item["stop_time"] == "" || item["start_time"] == "" {
			t.Fatalf("status after finalize %d %v", st, item)
		}

		// Storage calls.
		list := ok(t, e.form(recording.PathFileList, map[string]string{"file_name": "lesson"}))
		data := list["data"].(map[string]any)
		files := data["list"].([]any)
		if data["total"].(float64) != 1 || len(files) != 1 {
			t.Fatalf("file list %v", list)
		}
		f := files[0].(map[string]any)
		if f["file_name"] != "lesson" || f["file_state"].(float64) != 6 || f["size"].(float64) != float64(res.Slices[0].Size) {
			t.Fatalf("file %v", f)
		}
		if l := ok(t, e.form(recording.PathFileList, map[string]string{"file_name": "less"})); l["data"].(map[string]any)["total"].(float64) != 0 {
			t.Fatalf("file_name must match exactly: %v", l)
		}
		vol := ok(t, e.form(recording.PathVolume, nil))["data"].(map[string]any)
		if vol["useVolume"].(float64) != float64(res.Slices[0].Size) || vol["volume"] != nil {
			t.Fatalf("volume %v", vol)
		}
		dl := ok(t, e.form(recording.PathFileDownload, map[string]string{"file_name": "lesson"}))["data"].(map[string]any)
		urls := dl["url_list"].([]any)
		if len(urls) != 1 || dl["urls"] != urls[0] || !strings.Contains(urls[0].(string), "lesson_1.mp4") {
			t.Fatalf("download %v", dl)
		}
		code200, whole := get(t, urls[0].(string), "")
		if code200 != 200 || int64(len(whole)) != res.Slices[0].Size {
			t.Fatalf("download: HTTP %d, %d bytes", code200, len(whole))
		}
		if c, part := get(t, urls[0].(string), "bytes=0-99"); c != 206 || string(part) != string(whole[:100]) {
			t.Fatalf("range: HTTP %d, %d bytes", c, len(part))
		}
		if c, _ := get(t, strings.Replace(urls[0].(string), "e=", "e=1", 1), ""); c != 403 {
			t.Fatalf("a URL with its expiry changed: HTTP %d", c)
		}
		p := filepath.Join(t.TempDir(), "got.mp4")
		must(t, os.WriteFile(p, whole, 0o600))
		if d := probeDuration(t, p); d < 1.5 || d > 2.5 {
			t.Fatalf("downloaded file lasts %.2f s", d)
		}

		// Another account's app neither sees the file nor deletes it.
		key, err := e.api.IssueKey(ctx, func() int64 {
			a, err := e.st.CreateAccount(ctx, store.Account{Name: "stranger", Role: store.RoleUser})
			must(t, err)
			return a.ID
		}(), "")
		must(t, err)
		stranger := *e
		stranger.appID, stranger.secret = key["app_id"], key["secret"]
		if dl := ok(t, stranger.form(recording.PathFileDownload, map[string]string{"file_name": "lesson"}))["data"].(map[string]any); len(dl["url_list"].([]any)) != 0 {
			t.Fatalf("another account's download %v", dl)
		}
		ok(t, stranger.form(recording.PathFileDelete, map[string]string{"file_name": "lesson"}))
		if c, _ := get(t, urls[0].(string), ""); c != http.StatusOK {
			t.Fatalf("after another account's delete: HTTP %d", c)
		}
		// Another account holding the same content (blobs are content-addressed) keeps it after the delete.
		twin, err := e.st.CreateAccount(ctx, store.Account{Name: "same-content", Role: store.RoleUser})
		must(t, err)
		must(t, e.st.AddBlobRefs(ctx, twin.ID, []string{res.Slices[0].Hash}, e.clk.Now()))

		ok(t, e.form(recording.PathFileDelete, map[string]string{"file_name": "lesson"}))
		ok(t, e.form(recording.PathFileDelete, map[string]string{"file_name": "lesson"})) // gone already: OK too
		// The deleted file's URL, still signed and unexpired, answers not found: the account's rights on
		// its slice and segments are gone, the other account's is not.
		if c, _ := get(t, urls[0].(string), ""); c != http.StatusNotFound {
			t.Fatalf("a deleted file's URL: HTTP %d", c)
		}
		for _, tc := range []struct {
			acct int64
			hash string
			want bool
		}{{e.account, res.Slices[0].Hash, false}, {e.account, out.Hash, false}, {twin.ID, res.Slices[0].Hash, true}} {
			if has, err := e.st.HasBlobRef(ctx, tc.acct, tc.hash); err != nil || has != tc.want {
				t.Fatalf("account %d's right on %s after delete: %v %v, want %v", tc.acct, tc.hash[:8], has, err, tc.want)
			}
		}
		if vol := ok(t, e.form(recording.PathVolume, nil))["data"].(map[string]any); vol["useVolume"].(float64) != 0 {
			t.Fatalf("volume after delete %v", vol)
		}
		if dl := ok(t, e.form(recording.PathFileDownload, map[string]string{"file_name": "lesson"}))["data"].(map[string]any); len(dl["url_list"].([]any)) != 0 {
			t.Fatalf("download after delete %v", dl)
		}
		j, err := e.st.GetJob(ctx, mustInt(id))
		must(t, err)
		if j.Status != store.JobSucceeded || !j.Deleted {
			t.Fatalf("job after delete: %s deleted %v", j.Status, j.Deleted)
		}
		var doc map[string]any
		must(t, json.Unmarshal(j.Spec, &doc))
	})
}

func mustInt(s string) int64 {
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

// otherApp logs in as an app of another account.
func (e *env) otherApp() *client {
	e.t.Helper()
	ctx := context.Background()
	acct, err := e.st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser})
	must(e.t, err)
	key, err := e.api.IssueKey(ctx, acct.ID, "")
	must(e.t, err)
	c := e.dial()
	ok(e.t, c.do(map[string]any{"id": recording.CmdLogin, "app_id": key["app_id"],
		"token": recording.MintToken(key["app_id"], key["secret"], e.clk.Now().Add(60e9), "o")}))
	return c
}
