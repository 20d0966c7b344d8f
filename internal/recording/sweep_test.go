package recording_test

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/blobsweep"
	"taskcenter/internal/recording"
	"taskcenter/internal/unitspec"
)

// TestDeletedFileIsReclaimed: /api/record/file/delete frees the file's space for real. Once the
// grace period has passed, the sweep of unreferenced blobs deletes the deleted recording's segment
// and slice from the blob store, and leaves the blobs of the app's other recording.
func TestDeletedFileIsReclaimed(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.login()
		e.publish("g", "a", "cam", unitspec.MediaCamera, "rtmp://127.0.0.1/live/a")
		record := func(file string) (segment, slice string) {
			id := ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g", "file_name": file}))["record_id"].(string)
			ok(t, c.do(map[string]any{"id": recording.CmdLayout, "record_id": id, "video_list": []any{map[string]any{"user_id": "a"}}}))
			rec := e.recorder("r-" + file)
			u := rec.lease()
			seg := rec.upload(u, unitspec.SegmentOutput(0), []byte("segment of "+file))
			ok(t, c.do(map[string]any{"id": recording.CmdStop, "record_id": id}))
			rec.complete(u, unitspec.CaptureResult{Segments: []unitspec.Segment{{Hash: seg.Hash}}, MediaMillis: 30_000})
			fu := rec.lease()
			sl := rec.upload(fu, unitspec.SliceOutput(1), []byte("slice of "+file))
			rec.complete(fu, unitspec.FinalizeResult{Slices: []unitspec.Slice{{Index: 1, Hash: sl.Hash, Size: sl.Size, Millis: 30_000}}})
			if st, _ := c.status(id); st != recording.StatusComplete {
				t.Fatalf("%s: status %d", file, st)
			}
			return seg.Hash, sl.Hash
		}
		goneSeg, goneSlice := record("gone")
		keptSeg, keptSlice := record("kept")
		ok(t, e.form(recording.PathFileDelete, map[string]string{"file_name": "gone"}))

		sw, err := blobsweep.New(blobsweep.Config{Store: e.st, Blobs: e.blobs})
		must(t, err)
		if res, err := sw.Run(ctx, e.clk.Now()); err != nil || res.Reclaimed != 0 {
			t.Fatalf("sweep within the grace period: %+v %v", res, err)
		}
		res, err := sw.Run(ctx, e.clk.Advance(blobsweep.DefaultGrace+time.Minute))
		must(t, err)
		if res.Reclaimed != 2 || res.BytesReclaimed != int64(len("segment of gone")+len("slice of gone")) {
			t.Fatalf("sweep after the grace period: %+v, want the deleted file's segment and slice", res)
		}
		for _, tc := range []struct {
			name string
			hash string
			kept bool
		}{{"deleted segment", goneSeg, false}, {"deleted slice", goneSlice, false}, {"other segment", keptSeg, true}, {"other slice", keptSlice, true}} {
			if ok, err := e.blobs.Exists(ctx, tc.hash); err != nil || ok != tc.kept {
				t.Errorf("%s: in the blob store = %v (%v), want %v", tc.name, ok, err, tc.kept)
			}
		}
		dl := ok(t, e.form(recording.PathFileDownload, map[string]string{"file_name": "kept"}))["data"].(map[string]any)
		if urls := dl["url_list"].([]any); len(urls) != 1 {
			t.Fatalf("the other file after the sweep: %v", dl)
		} else if code, body := get(t, urls[0].(string), ""); code != 200 || string(body) != "slice of kept" {
			t.Fatalf("the other file's download after the sweep: HTTP %d %q", code, body)
		}
	})
}
