package recording

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// statusNames are the document's record statuses as the console shows them.
var statusNames = map[int]string{StatusInit: "init", StatusRecording: "recording", StatusQueued: "queued",
	StatusEncoding: "encoding", StatusUploading: "uploading", StatusComplete: "complete", StatusFailed: "failed"}

// CollectionName names the recordings the console's page lists (native.Collection).
func (a *API) CollectionName() string { return "recording.recordings" }

// ListCollection pages the account's recordings (accountID 0: every account's), newest first,
// searched by group or app id: status, app, group, times, and the files' slices, each with the
// native blob route that plays it (the slices are the account's blobs).
func (a *API) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	f := store.JobFilter{Kind: Kind, Search: q.Search, Limit: q.Limit, Offset: q.Offset}
	if accountID != 0 {
		f.AccountIDs = []int64{accountID}
	}
	jobs, total, err := a.st.ListJobs(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("list recordings: %w", err)
	}
	out := make([]json.RawMessage, 0, len(jobs))
	for _, j := range jobs {
		r, err := decodeRecording(j)
		if err != nil {
			return nil, 0, fmt.Errorf("decode recording %d: %w", j.ID, err)
		}
		st := statusOf(r.Doc, nil)
		if r.Doc.State == stateFinalizing { // how far the finalize is: its unit says
			if _, fin, err := a.unitsOf(ctx, j.ID); err == nil {
				st = statusOf(r.Doc, fin)
			}
		}
		files := make([]map[string]any, len(r.Doc.Slices))
		for i, s := range r.Doc.Slices {
			files[i] = map[string]any{"name": sliceName(r.Doc, s.Index), "index": s.Index, "size": s.Size,
				"duration_ms": s.Millis, "hash": s.Hash, "url": "/api/v1/blobs/" + s.Hash}
		}
		b, err := json.Marshal(map[string]any{
			"id": j.ID, "account_id": j.AccountID, "app_id": r.Doc.AppID, "group_id": r.Doc.GroupID,
			"file_name": r.Doc.FileName, "status": statusNames[st], "status_code": st, "paused": r.Doc.Paused,
			"reason": r.Doc.Reason, "created_at": rfc3339(r.Doc.CreatedAt), "started_at": rfc3339(r.Doc.StartedAt),
			"stopped_at": rfc3339(r.Doc.StoppedAt), "duration_ms": r.Doc.MediaMillis, "size": r.Doc.Bytes, "files": files,
		})
		if err != nil {
			return nil, 0, fmt.Errorf("encode recording %d: %w", j.ID, err)
		}
		out = append(out, b)
	}
	return out, total, nil
}

// rfc3339 renders the document's Unix milliseconds for the native API (empty when unset).
func rfc3339(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
