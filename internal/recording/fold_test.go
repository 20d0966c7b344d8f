package recording_test

import (
	"context"
	"encoding/json"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/recording"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// TestLostFoldIsRedone: a recording whose job finished but whose fold was lost (the finishing
// process died) is folded and charged by the fold service, once.
func TestLostFoldIsRedone(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, err := e.api.PatchAccountSetting(ctx, e.account, json.RawMessage(`{"price_milli_per_minute":100}`))
		must(t, err)
		_, _, err = e.eng.AdjustFunds(ctx, e.account, store.FundsDelta{BalanceMilli: 1000}, "top-up")
		must(t, err)
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))["record_id"].(string)
		ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a"}}}))
		rec := e.recorder("r")
		u := rec.lease()
		seg := rec.upload(u, unitspec.SegmentOutput(0), []byte("segment"))
		ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
		rec.complete(u, unitspec.CaptureResult{Segments: []unitspec.Segment{{Hash: seg.Hash}}, MediaMillis: 90_000})
		fu := rec.lease()
		sl := rec.upload(fu, unitspec.SliceOutput(1), []byte("slice"))
		j, err := e.st.GetJob(ctx, mustInt(id))
		must(t, err)
		before := j.Spec // the document as it was before the finish: finalizing, not charged
		rec.complete(fu, unitspec.FinalizeResult{Slices: []unitspec.Slice{{Index: 1, Hash: sl.Hash, Size: sl.Size, Millis: 90_000}}})
		// Undo the fold, as if the process that finished the job had died before it.
		_, err = e.eng.UpdateJob(ctx, j.ID, engine.JobChange{Spec: before})
		must(t, err)
		if st, _ := c.status(id); st == recording.StatusComplete {
			t.Fatal("the fold was not undone")
		}
		must(t, e.api.Fold(ctx, e.clk.Now()))
		must(t, e.api.Fold(ctx, e.clk.Now()))
		if st, _ := c.status(id); st != recording.StatusComplete {
			t.Fatalf("status %d after the fold service", st)
		}
		lines, _, err := e.eng.Ledger(ctx, e.account, 10, 0)
		must(t, err)
		charges := 0
		for _, l := range lines {
			if l.Kind == store.LedgerCharge {
				charges++
				if l.BalanceMilli != 200 { // 90 s: two started minutes
					t.Fatalf("charge %+v", l)
				}
			}
		}
		if charges != 1 {
			t.Fatalf("%d charges, want 1", charges)
		}
	})
}
