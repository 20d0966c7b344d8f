package recording

import (
	"context"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
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
	// The status of a finalizing recording is read from its finalize unit.
	statusNow := func(r recording) int {
		st := statusOf(r.Doc, nil)
		if r.Doc.State == stateFinalizing {
			if _, fin, err := a.unitsOf(ctx, r.Job.ID); err == nil {
				st = statusOf(r.Doc, fin)
			}
		}
		return st
	}
	// SQL filters the app, the group (a substring search narrowed to the exact name below), the
	// creation time and, where a record status implies them, the job statuses; Go filters the rest.
	f := store.JobFilter{Search: groupID}
	if !from.IsZero() {
		f.CreatedFrom = &from
	}
	if !to.IsZero() {
		f.CreatedTo = &to
	}
	switch status {
	case StatusComplete:
		f.Statuses = []store.JobStatus{store.JobSucceeded}
	case StatusInit, StatusRecording:
		f.Statuses = liveJobStatuses
	}
	var keep func(recording) bool
	if groupID != "" || status != 0 {
		keep = func(r recording) bool {
			return (groupID == "" || r.Job.Name == groupID) && (status == 0 || statusNow(r) == int(status))
		}
	}
	var rs []recording
	total := 0
	if recordID != "" {
		r, err := a.getRecording(ctx, ap, recordID)
		if err != nil {
			return nil, err
		}
		created := r.Job.CreatedAt
		if (keep == nil || keep(r)) && (from.IsZero() || !created.Before(from)) && (to.IsZero() || !created.After(to)) {
			total = 1
			if page == 1 {
				rs = []recording{r}
			}
		}
	} else if rs, total, err = a.recordingPage(ctx, ap, f, keep, int((page-1)*size), int(size)); err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(rs))
	for _, r := range rs {
		item := map[string]any{
			"record_id": r.id(), "record_mode": r.Doc.RecordMode, "group_id": r.Doc.GroupID,
			"start_time": a.formatTime(r.Doc.StartedAt), "stop_time": a.formatTime(r.Doc.StoppedAt), "status": statusNow(r),
			"file_name": r.Doc.FileName, "paused": r.Doc.Paused,
		}
		if r.Doc.Reason != "" {
			item["reason"] = r.Doc.Reason
		}
		list = append(list, item)
	}
	return map[string]any{"record_list": list, "total_num": total}, nil
}
