package recording

import (
	"context"
	"time"

	"taskcenter/internal/facade"
)

// query is command 4104: the app's recordings, newest first, filtered by record_id, group_id,
// status and a start-time range, paged (page from 1, page_size 1-500, default 50).
func (a *API) query(ctx context.Context, ap app, p facade.Params) (map[string]any, error) {
	recordID, err := p.Text("record_id", false, 32)
	if err != nil {
		return nil, err
	}
	groupID, err := p.Text("group_id", false, maxText)
	if err != nil {
		return nil, err
	}
	status, err := p.Int("status", false, -1, 6, 0)
	if err != nil {
		return nil, err
	}
	if p.Has("status") && status == 0 {
		return nil, errf(CodeBadParam, "status must be one of 1 to 6, or -1")
	}
	page, err := p.Int("page", false, 1, 1<<20, 1)
	if err != nil {
		return nil, err
	}
	size, err := p.Int("page_size", false, 1, 500, 50)
	if err != nil {
		return nil, err
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"start_time", &from}, {"stop_time", &to}} {
		s, err := p.Text(f.name, false, 64)
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue
		}
		t, ok := a.parseTime(s)
		if !ok {
			return nil, errf(CodeBadParam, "%s must be a date like 2006-01-02 15:04:05", f.name)
		}
		*f.dst = t
	}
	var rs []recording
	if recordID != "" {
		r, err := a.getRecording(ctx, ap, recordID)
		if err != nil {
			return nil, err
		}
		rs = []recording{r}
	} else if rs, err = a.listRecordings(ctx, ap, nil); err != nil {
		return nil, err
	}
	var list []map[string]any
	for _, r := range rs {
		if groupID != "" && r.Doc.GroupID != groupID {
			continue
		}
		created := time.UnixMilli(r.Doc.CreatedAt)
		if !from.IsZero() && created.Before(from) || !to.IsZero() && created.After(to) {
			continue
		}
		st := statusOf(r.Doc, nil)
		if r.Doc.State == stateFinalizing {
			if _, fin, err := a.unitsOf(ctx, r.Job.ID); err == nil {
				st = statusOf(r.Doc, fin)
			}
		}
		if status != 0 && st != int(status) {
			continue
		}
		item := map[string]any{
			"record_id": r.id(), "record_mode": r.Doc.RecordMode, "group_id": r.Doc.GroupID,
			"start_time": a.formatTime(r.Doc.StartedAt), "stop_time": a.formatTime(r.Doc.StoppedAt), "status": st,
			"file_name": r.Doc.FileName, "paused": r.Doc.Paused,
		}
		if r.Doc.Reason != "" {
			item["reason"] = r.Doc.Reason
		}
		list = append(list, item)
	}
	pg := facade.Paginate(list, int((page-1)*size), int(size))
	return map[string]any{"record_list": nonNil(pg.Items), "total_num": pg.Total}, nil
}
