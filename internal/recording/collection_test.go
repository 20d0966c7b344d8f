package recording_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// TestCollection: the console's recordings page lists an account's recordings through the native
// API with their status, app, times and files, and each file plays from the native blob route the
// account may read; another account lists none and cannot read the file.
func TestCollection(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, err := e.api.PatchAccountSetting(ctx, e.account, json.RawMessage(`{"price_milli_per_minute":100}`))
		must(t, err)
		_, _, err = e.eng.AdjustFunds(ctx, e.account, store.FundsDelta{BalanceMilli: 1000}, "top-up")
		must(t, err)
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": "lesson"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a"}}}))
		rec := e.recorder("r")
		u := rec.lease()
		seg := rec.upload(u, unitspec.SegmentOutput(0), []byte("segment"))
		ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		rec.complete(u, unitspec.CaptureResult{Segments: []unitspec.Segment{{Hash: seg.Hash}}, MediaMillis: 30_000})
		fu := rec.lease()
		sl := rec.upload(fu, unitspec.SliceOutput(1), []byte("the slice's bytes"))
		rec.complete(fu, unitspec.FinalizeResult{Slices: []unitspec.Slice{{Index: 1, Hash: sl.Hash, Size: sl.Size, Millis: 30_000}}})
		ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "waiting"})) // no layout yet

		tenant, _, err := auth.IssueToken(ctx, e.st, e.account, store.CredAdmin, "", e.clk.Now())
		must(t, err)
		other, err := e.st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser})
		must(t, err)
		stranger, _, err := auth.IssueToken(ctx, e.st, other.ID, store.CredAdmin, "", e.clk.Now())
		must(t, err)
		call := func(token, path string) (int, []byte) {
			req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			must(t, err)
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		type page struct {
			Total int `json:"total"`
			Items []struct {
				ID        int64  `json:"id"`
				AppID     string `json:"app_id"`
				GroupID   string `json:"group_id"`
				FileName  string `json:"file_name"`
				Status    string `json:"status"`
				StartedAt string `json:"started_at"`
				StoppedAt string `json:"stopped_at"`
				Files     []struct {
					Name string `json:"name"`
					Size int64  `json:"size"`
					URL  string `json:"url"`
				} `json:"files"`
			} `json:"items"`
		}
		for _, tc := range []struct {
			name, token, query string
			total              int
		}{
			{"the tenant's", tenant, "", 2},
			{"searched by group", tenant, "?search=waiting", 1},
			{"another account's", stranger, "", 0},
			{"the admin's", e.adminToken, "", 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, b := call(tc.token, "/api/v1/collections/recording.recordings"+tc.query)
				var p page
				if code != 200 || json.Unmarshal(b, &p) != nil || p.Total != tc.total || len(p.Items) != tc.total {
					t.Fatalf("%d %s", code, b)
				}
			})
		}
		_, b := call(tenant, "/api/v1/collections/recording.recordings")
		var p page
		must(t, json.Unmarshal(b, &p))
		waiting, done := p.Items[0], p.Items[1] // newest first
		if waiting.Status != "init" || waiting.GroupID != "waiting" || len(waiting.Files) != 0 {
			t.Errorf("the waiting recording: %+v", waiting)
		}
		if done.Status != "complete" || done.AppID != e.appID || done.FileName != "lesson" || done.StartedAt == "" || done.StoppedAt == "" ||
			len(done.Files) != 1 || done.Files[0].Name != "lesson_1.mp4" || done.Files[0].Size != sl.Size {
			t.Fatalf("the finished recording: %s", b)
		}
		if code, body := call(tenant, done.Files[0].URL); code != 200 || string(body) != "the slice's bytes" {
			t.Errorf("playing the file: %d %q", code, body)
		}
		if code, _ := call(stranger, done.Files[0].URL); code != 404 {
			t.Errorf("another account reads the file: %d", code)
		}
	})
}
