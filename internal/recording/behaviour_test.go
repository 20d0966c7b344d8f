package recording_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// TestBadInput: each bad frame answers a code of the table with a clear message, and the connection
// stays open (the next command is answered).
func TestBadInput(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		c := e.dial()
		expired := recording.MintToken(e.appID, e.secret, e.clk.Now().Add(-time.Second), "x")
		forged := recording.MintToken(e.appID, "not-the-secret", e.clk.Now().Add(time.Hour), "x")
		tests := []struct {
			name  string
			frame string
			code  int
		}{
			{"not json", `hello`, recording.CodeBadFrame},
			{"command before login", `{"id":4104,"seq":"1"}`, recording.CodeNotLoggedIn},
			{"unknown id", `{"id":4200,"seq":"1"}`, recording.CodeUnknownCmd},
			{"login without token", `{"id":4097,"app_id":"` + e.appID + `","seq":"1"}`, recording.CodeMissing},
			{"unknown app", `{"id":4097,"app_id":"nope","token":"` + e.token() + `","seq":"1"}`, recording.CodeAuth},
			{"forged token", `{"id":4097,"app_id":"` + e.appID + `","token":"` + forged + `","seq":"1"}`, recording.CodeAuth},
			{"expired token", `{"id":4097,"app_id":"` + e.appID + `","token":"` + expired + `","seq":"1"}`, recording.CodeTokenExpired},
			{"login", `{"id":4097,"app_id":"` + e.appID + `","token":"` + e.token() + `","seq":"1"}`, 0},
			{"file_duration 10", `{"id":4098,"group_id":"g","file_duration":10}`, recording.CodeBadParam},
			{"width 5000", `{"id":4098,"group_id":"g","width":5000}`, recording.CodeBadParam},
			{"frame_rate 60", `{"id":4098,"group_id":"g","frame_rate":60}`, recording.CodeBadParam},
			{"media_count 12", `{"id":4098,"group_id":"g","auto":{"media_count":12}}`, recording.CodeBadParam},
			{"unknown record", `{"id":4101,"record_id":"999999"}`, recording.CodeNotFound},
			{"record id not a number", `{"id":4100,"record_id":"abc"}`, recording.CodeNotFound},
			{"missing record id", `{"id":4100}`, recording.CodeMissing},
			{"NUL in group", `{"id":4098,"group_id":"a\u0000b"}`, recording.CodeBadParam},
			{"oversized frame", `{"id":4104,"pad":"` + strings.Repeat("x", 70<<10) + `"}`, recording.CodeFrameTooLarge},
		}
		for _, tc := range tests {
			r := c.send([]byte(tc.frame))
			if code(r) != tc.code || tc.code != 0 && r["msg"] == "" {
				t.Fatalf("%s: %v, want code %d", tc.name, r, tc.code)
			}
		}
		r := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))
		if r["record_id"] == "" {
			t.Fatal("no record id")
		}
		// A binary frame is refused, the connection stays.
		ctx := context.Background()
		must(t, c.conn.Write(ctx, websocket.MessageBinary, []byte(`{"id":4104}`)))
		_, b, err := c.conn.Read(ctx)
		must(t, err)
		if !strings.Contains(string(b), `"code":30003`) {
			t.Fatalf("binary frame: %s", b)
		}
		// A flood: beyond the burst, commands are refused with their own code, and the server answers each.
		limited := 0
		for i := 0; i < 100; i++ {
			if code(c.send([]byte(`{"id":4104,"seq":"f"}`))) == recording.CodeRateLimited {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("a flood of 100 commands was never rate limited")
		}
		// Another connection is unaffected.
		ok(t, e.login().do(map[string]any{"id": recording.CmdQuery}))

		// A urlencoded storage call is read like a form-data one.
		resp, err := e.srv.Client().Post(e.srv.URL+recording.PathVolume, "application/x-www-form-urlencoded",
			strings.NewReader("business=RE&app_id="+e.appID+"&token="+e.token()))
		must(t, err)
		var vol map[string]any
		must(t, json.NewDecoder(resp.Body).Decode(&vol))
		resp.Body.Close()
		if code(vol) != 0 || vol["message"] != "OK" || vol["data"].(map[string]any)["useVolume"].(float64) != 0 {
			t.Fatalf("urlencoded volume: %v", vol)
		}

		// The storage calls refuse what login refuses.
		for _, tc := range []struct {
			token string
			code  int
		}{{forged, recording.CodeAuth}, {expired, recording.CodeTokenExpired}, {"", recording.CodeMissing}} {
			if r := e.formToken(recording.PathVolume, tc.token, nil); code(r) != tc.code || r["data"] != nil {
				t.Fatalf("volume with token %q: %v, want %d", tc.token, r, tc.code)
			}
		}
	})
}

// TestAutoRecording: an auto recording starts when its group has media and its capture spec reflows
// as users publish and leave.
func TestAutoRecording(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		c := e.login()
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "class", "width": 1280, "height": 720,
			"auto": map[string]any{"type": 1, "media_type": 2, "media_count": 4, "crop_mode": 3}}))["record_id"].(string)
		if st, _ := c.status(id); st != recording.StatusInit {
			t.Fatalf("auto recording without media: status %d", st)
		}
		if r := c.do(map[string]any{"id": recording.CmdLayout, "record_id": id}); code(r) != recording.CodeBadState {
			t.Fatalf("layout of an auto recording: %v", r)
		}
		// Over the long connection's extension.
		ok(t, c.do(map[string]any{"id": recording.CmdMedia, "action": "publish", "group_id": "class", "user_id": "a",
			"media_id": "cam", "media_type": 2, "url": "rtmp://127.0.0.1/live/a"}))
		if st, _ := c.status(id); st != recording.StatusRecording {
			t.Fatalf("status after the first media %d", st)
		}
		rec := e.recorder("r")
		u := rec.lease()
		spec, _ := rec.spec(u)
		if len(spec.Cells) != 1 || spec.Cells[0].W != 1280 || spec.Cells[0].CropMode != 3 {
			t.Fatalf("one user: %+v", spec.Cells)
		}
		e.publish("class", "b", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/b")
		e.publish("class", "b", "screen", unitspec.MediaScreen, "rtmp://127.0.0.1/live/bs")
		spec, _ = rec.spec(u)
		if len(spec.Cells) != 2 || spec.Cells[1].X != 640 || spec.Cells[1].Source != "b/screen" {
			t.Fatalf("two users (b's screen share first): %+v", spec.Cells)
		}
		ok(t, e.form(recording.PathMedia, map[string]string{"action": "leave", "group_id": "class", "user_id": "a"}))
		spec, _ = rec.spec(u)
		if len(spec.Cells) != 1 || spec.Cells[0].Source != "b/screen" || spec.Cells[0].W != 1280 {
			t.Fatalf("after a left: %+v", spec.Cells)
		}
		g := ok(t, c.do(map[string]any{"id": recording.CmdGroupQuery, "group_id": "class"}))
		if users := g["user_list"].([]any); len(users) != 1 {
			t.Fatalf("group %v", g)
		}
		if r := e.form(recording.PathMedia, map[string]string{"action": "publish", "group_id": "class", "user_id": "c",
			"media_id": "m", "media_type": "2", "url": "gopher://x"}); code(r) != recording.CodeBadParam {
			t.Fatalf("bad URL scheme: %v", r)
		}
	})
}

// TestIdleTimeout: when every source has been gone for timeout seconds and no command came, the
// recording stops by itself and query says why; a live source keeps it going.
func TestIdleTimeout(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "timeout": 5}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a", "media_id": "cam"}}}))
		e.clk.Advance(time.Minute)
		must(t, e.api.Advance(ctx, e.clk.Now()))
		if st, _ := c.status(id); st != recording.StatusRecording {
			t.Fatalf("a recording with a live source stopped: %d", st)
		}
		ok(t, e.form(recording.PathMedia, map[string]string{"action": "leave", "group_id": "g", "user_id": "a"}))
		e.clk.Advance(4 * time.Second)
		must(t, e.api.Advance(ctx, e.clk.Now()))
		if st, _ := c.status(id); st != recording.StatusRecording {
			t.Fatalf("stopped before the timeout: %d", st)
		}
		e.clk.Advance(2 * time.Second)
		must(t, e.api.Advance(ctx, e.clk.Now()))
		st, item := c.status(id)
		if st != recording.StatusQueued || !strings.HasPrefix(fmt.Sprint(item["reason"]), "timeout") {
			t.Fatalf("after the timeout: %d %v", st, item)
		}
	})
}

// progress reports the capture's sources' health as a recorder does (the capture's progress).
func (r *recorder) progress(u agentapi.Unit, health float64) {
	r.e.t.Helper()
	if c := r.e.agentCall("POST", agentapi.PathProgress, r.token, agentapi.ProgressRequest{
		UnitRef: agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}, Progress: health}, nil); c != http.StatusNoContent {
		r.e.t.Fatalf("progress: HTTP %d", c)
	}
}

// TestIdleTimeoutReadsTheRecorder: a source the registry still lists but the recorder receives
// nothing from counts as failed; the recording stops when the running capture has reported no
// source delivering for the timeout, a delivery in between restarts the count, and so does a command.
func TestIdleTimeoutReadsTheRecorder(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "timeout": 5}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a", "media_id": "cam"}}}))
		rec := e.recorder("rec")
		u := rec.lease()
		advance := func(d time.Duration, want int, what string) map[string]any {
			t.Helper()
			e.clk.Advance(d)
			must(t, e.api.Advance(ctx, e.clk.Now()))
			st, item := c.status(id)
			if st != want {
				t.Fatalf("%s: status %d %v, want %d", what, st, item, want)
			}
			return item
		}
		steps := []struct {
			health float64
			wait   time.Duration
			want   int
			what   string
		}{
			{100, 20 * time.Second, recording.StatusRecording, "delivering"},
			{0, 0, recording.StatusRecording, "silence begins"},
			{0, 4 * time.Second, recording.StatusRecording, "silent for 4 s"},
			{50, 0, recording.StatusRecording, "one source back"},
			{0, 0, recording.StatusRecording, "silence again"},
			{0, 4 * time.Second, recording.StatusRecording, "silent for 4 s after a delivery"},
		}
		for _, s := range steps {
			rec.progress(u, s.health)
			advance(s.wait, s.want, s.what)
		}
		// A command restarts the count too.
		ok(t, c.do(map[string]any{"id": recording.CmdSubtitles, "record_id": id, "subtitle_list": []any{map[string]any{"type": 2}}}))
		advance(4*time.Second, recording.StatusRecording, "4 s after a command")
		item := advance(2*time.Second, recording.StatusQueued, "silent for 6 s after the command")
		if !strings.HasPrefix(fmt.Sprint(item["reason"]), "timeout: the recorder received nothing") {
			t.Fatalf("reason %v", item["reason"])
		}
	})
}

// TestRecorderTakeover: a recorder that dies mid-recording loses its lease; another takes the
// capture over and reads the segments stored before, and the finalize gets them all.
func TestRecorderTakeover(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a"}}}))
		first := e.recorder("first")
		u := first.lease()
		s0 := first.upload(u, unitspec.SegmentOutput(0), []byte("segment zero"))
		e.clk.Advance(31 * time.Second) // the first recorder sends no heartbeat: it died
		must(t, e.eng.RunService(ctx, "rescuer"))
		second := e.recorder("second")
		u2 := second.lease()
		if u2.UnitID != u.UnitID {
			t.Fatalf("took over unit %d, want the capture %d", u2.UnitID, u.UnitID)
		}
		_, outs := second.spec(u2)
		if outs[unitspec.SegmentOutput(0)].Hash != s0.Hash {
			t.Fatalf("outputs seen by the second recorder: %v", outs)
		}
		s1 := second.upload(u2, unitspec.SegmentOutput(1), []byte("segment one"))
		ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		second.complete(u2, map[string]any{}) // no segment list in the result: the outputs are read
		fu := second.lease()
		spec, _ := second.spec(fu)
		if len(spec.Segments) != 2 || spec.Segments[0].Hash != s0.Hash || spec.Segments[1].Hash != s1.Hash || spec.SliceSeconds != 60 {
			t.Fatalf("finalize spec %+v", spec)
		}
	})
}

// TestQuotaAndBilling: recorded minutes are charged through the engine's ledger at the admin's
// price; a full storage quota refuses a new recording.
func TestQuotaAndBilling(t *testing.T) {
	needFFmpeg(t)
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.api.PatchAccountSetting(ctx, e.account, json.RawMessage(`{"price_milli_per_minute":1500,"quota_bytes":100}`)); err != nil {
			t.Fatal(err)
		}
		c := e.login()
		if r := c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}); code(r) != recording.CodeNoFunds {
			t.Fatalf("init without funds: %v", r)
		}
		if _, _, err := e.eng.AdjustFunds(ctx, e.account, store.FundsDelta{BalanceMilli: 10_000}, "top-up"); err != nil {
			t.Fatal(err)
		}
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "paid"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a"}}}))
		rec := e.recorder("r")
		u := rec.lease()
		out := rec.upload(u, unitspec.SegmentOutput(0), segment(t, t.TempDir(), "blue", 1))
		ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		rec.complete(u, unitspec.CaptureResult{Segments: []unitspec.Segment{{Hash: out.Hash}}, MediaMillis: 61_000})
		rec.finalize(rec.lease())
		if st, _ := c.status(id); st != recording.StatusComplete {
			t.Fatalf("status %d", st)
		}
		lines, _, err := e.eng.Ledger(ctx, e.account, 10, 0)
		must(t, err)
		var charged int64
		for _, l := range lines {
			if l.Kind == store.LedgerCharge {
				charged += l.BalanceMilli + l.CouponMilli + l.CreditMilli + l.UnpaidMilli
			}
		}
		if charged != 3000 { // 61 s is two started minutes at 1.5
			t.Fatalf("charged %d milli, want 3000 (ledger %+v)", charged, lines)
		}
		must(t, e.api.Advance(ctx, e.clk.Now())) // charging again charges nothing
		if again, _, _ := e.eng.Ledger(ctx, e.account, 10, 0); len(again) != len(lines) {
			t.Fatalf("charged twice: %+v", again)
		}
		if r := c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}); code(r) != recording.CodeQuotaFull {
			t.Fatalf("init over quota: %v", r)
		}
		vol := ok(t, e.form(recording.PathVolume, nil))["data"].(map[string]any)
		if vol["volume"].(float64) != 100 {
			t.Fatalf("volume %v", vol)
		}
		ok(t, e.form(recording.PathFileDelete, map[string]string{"file_name": "paid"}))
		ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))
	})
}

// TestStopBeforeStart: a recording stopped before its first layout ends at once (-1 with its reason)
// and leaves no job running.
func TestStopBeforeStart(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		c := e.login()
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		st, item := c.status(id)
		if st != recording.StatusFailed || item["reason"] == nil {
			t.Fatalf("status %d %v", st, item)
		}
		j, err := e.st.GetJob(context.Background(), mustInt(id))
		must(t, err)
		if !j.Status.Terminal() {
			t.Fatalf("job left %s", j.Status)
		}
	})
}

// TestQuotaStopsRecording: a running recording whose segments fill the app's storage quota stops by
// itself, and query says why.
func TestQuotaStopsRecording(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a"}}}))
		rec := e.recorder("r")
		u := rec.lease()
		rec.upload(u, unitspec.SegmentOutput(0), []byte("twenty bytes of data"))
		must(t, e.api.Advance(ctx, e.clk.Now()))
		if st, _ := c.status(id); st != recording.StatusRecording {
			t.Fatalf("stopped without a quota: %d", st)
		}
		_, err := e.api.PatchAccountSetting(ctx, e.account, json.RawMessage(`{"app_quota_bytes":{"`+e.appID+`":20}}`))
		must(t, err)
		must(t, e.api.Advance(ctx, e.clk.Now()))
		st, item := c.status(id)
		if st != recording.StatusQueued || item["reason"] != "storage quota used up" {
			t.Fatalf("after the quota filled: %d %v", st, item)
		}
		if spec, _ := rec.spec(u); !spec.Stopped {
			t.Fatal("the recorder was not told to stop")
		}
	})
}

// TestManualLayoutFollowsTheRegistry: a manual layout may name media not yet published; the cell
// joins the composition when the medium appears, leaves it when it is unpublished, and comes back
// with a new URL when it is published again.
func TestManualLayoutFollowsTheRegistry(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		c := e.login()
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id,
			"video_list": []any{map[string]any{"user_id": "late", "media_id": "cam", "w": 640, "h": 360}},
			"audio_list": []any{map[string]any{"user_id": "late"}}}))
		rec := e.recorder("r")
		u := rec.lease()
		steps := []struct {
			do        func()
			wantCells int
			wantURL   string
		}{
			{func() {}, 0, ""},
			{func() { e.publish("g", "late", "cam", unitspec.MediaCamera, "rtsp://127.0.0.1/late1") }, 1, "rtsp://127.0.0.1/late1"},
			{func() {
				ok(t, e.form(recording.PathMedia, map[string]string{"action": "unpublish", "group_id": "g", "user_id": "late", "media_id": "cam"}))
			}, 0, ""},
			{func() { e.publish("g", "late", "cam", unitspec.MediaCamera, "srt://127.0.0.1:9000") }, 1, "srt://127.0.0.1:9000"},
		}
		for i, s := range steps {
			s.do()
			spec, _ := rec.spec(u)
			if len(spec.Cells) != s.wantCells || s.wantCells > 0 && (spec.Sources[0].URL != s.wantURL || len(spec.Audio) != 1) {
				t.Fatalf("step %d: cells %+v sources %+v audio %v", i, spec.Cells, spec.Sources, spec.Audio)
			}
		}
	})
}
