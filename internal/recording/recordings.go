package recording

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// getRecording loads one of the app's recordings; another app's, or a deleted one, is not found.
func (a *API) getRecording(ctx context.Context, ap app, recordID string) (recording, error) {
	id, err := strconv.ParseInt(recordID, 10, 64)
	if err != nil || id <= 0 {
		return recording{}, errf(CodeNotFound, "no recording %q", recordID)
	}
	j, err := a.st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (j.Kind != Kind || j.AccountID != ap.AccountID || j.Project != ap.ID || j.Deleted) {
		return recording{}, errf(CodeNotFound, "no recording %q", recordID)
	}
	if err != nil {
		return recording{}, fmt.Errorf("load recording %d: %w", id, err)
	}
	r, err := decodeRecording(j)
	if err != nil {
		return recording{}, fmt.Errorf("decode recording %d: %w", id, err)
	}
	return r, nil
}

// unitsOf returns a recording's capture and finalize units.
func (a *API) unitsOf(ctx context.Context, jobID int64) (capture, finalize *store.Unit, err error) {
	us, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: jobID})
	if err != nil {
		return nil, nil, fmt.Errorf("list units of recording %d: %w", jobID, err)
	}
	for i := range us {
		switch us[i].Index {
		case captureIndex:
			capture = &us[i]
		case finalizeIndex:
			finalize = &us[i]
		}
	}
	if capture == nil || finalize == nil {
		return nil, nil, fmt.Errorf("recording %d lacks its units", jobID)
	}
	return capture, finalize, nil
}

// initRecording creates a recording (status 1); an auto one starts at once when its group has media.
func (a *API) initRecording(ctx context.Context, ap app, ip initParams) (recording, error) {
	if err := a.checkCanRecord(ctx, ap); err != nil {
		return recording{}, err
	}
	now := a.now()
	doc := recordDoc{
		AppID: ap.ID, GroupID: ip.GroupID, FileName: ip.FileName, FileType: ip.FileType, FileDuration: ip.FileDuration,
		Width: ip.Width, Height: ip.Height, RecordMode: ip.RecordMode, FrameRate: ip.FrameRate, Timeout: ip.Timeout,
		Auto: ip.Auto, State: stateInit, CreatedAt: now.UnixMilli(), LastCommand: now.UnixMilli(),
	}
	held := engine.HeldUntilReleased
	waiting, _ := json.Marshal(unitspec.Recording{Mode: unitspec.ModeCapture, Version: 0,
		Canvas: unitspec.Canvas{Width: doc.Width, Height: doc.Height, FrameRate: doc.FrameRate}, FileType: doc.FileType})
	final, _ := json.Marshal(unitspec.Recording{Mode: unitspec.ModeFinalize,
		Canvas: unitspec.Canvas{Width: doc.Width, Height: doc.Height, FrameRate: doc.FrameRate}, FileType: doc.FileType})
	specDoc, _ := json.Marshal(doc)
	var r recording
	_, err := a.eng.SubmitWith(ctx, engine.JobSpec{
		AccountID: ap.AccountID, Kind: Kind, Name: ip.GroupID, Project: ap.ID, MaxAttempts: a.cfg.MaxAttempts,
		Spec: specDoc,
		Units: []engine.UnitSpec{
			{Name: "capture", Capability: unitspec.CapRecorder, RunAfter: &held, Spec: waiting},
			{Name: "finalize", Capability: unitspec.CapRecorder, RunAfter: &held, Spec: final},
		},
	}, func(tx engine.Tx, j store.Job) error {
		// The default file name is the record id, known once the job exists.
		if doc.FileName == "" {
			doc.FileName = "record_" + strconv.FormatInt(j.ID, 10)
		}
		b, _ := json.Marshal(doc)
		j, err := tx.UpdateJob(ctx, j.ID, engine.JobChange{Spec: b})
		r = recording{Job: j, Doc: doc}
		return err
	})
	if err != nil {
		return recording{}, err
	}
	if doc.Auto != nil {
		if err := a.refresh(ctx, ap, r.id(), nil); err != nil {
			return r, err
		}
	}
	return r, nil
}

// refresh changes a recording's document with mutate (nil: none, the group changed) and rewrites its
// capture's spec from the document and the group's registry, releasing the capture when recording
// starts: a manual recording at its first layout, an auto one once its group has media.
func (a *API) refresh(ctx context.Context, ap app, recordID string, mutate func(r *recording, now int64) error) error {
	unlock, err := a.lock(ctx, "r:"+recordID)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := a.getRecording(ctx, ap, recordID)
	if err != nil {
		return err
	}
	now := a.now().UnixMilli()
	wasState := r.Doc.State
	if mutate != nil {
		if err := mutate(&r, now); err != nil {
			return err
		}
		r.Doc.LastCommand = now
	} else if r.Doc.State != stateInit && r.Doc.State != stateRecording {
		return nil // the group changed, but this recording no longer follows it
	}
	g, err := a.loadGroup(ctx, ap.AccountID, ap.ID, r.Doc.GroupID)
	if err != nil {
		return err
	}
	var plan layoutPlan
	if r.Doc.Auto != nil {
		plan, r.Doc.MainUser = autoPlan(r.Doc, g.Doc)
		if r.Doc.State == stateInit && plan.hasMedia() {
			r.Doc.State, r.Doc.StartedAt = stateRecording, now
		}
	} else {
		plan = manualPlan(r.Doc, g.Doc)
	}
	// LastLive is the last moment the layout had a source: the idle timeout counts from it.
	if plan.hasMedia() || r.Doc.HadMedia || r.Doc.LastLive == 0 {
		r.Doc.LastLive = now
	}
	r.Doc.HadMedia = plan.hasMedia()
	return a.write(ctx, r, plan, wasState == stateInit && r.Doc.State == stateRecording)
}

// write stores the document and the capture spec it implies in one transaction.
func (a *API) write(ctx context.Context, r recording, plan layoutPlan, release bool) error {
	capture, _, err := a.unitsOf(ctx, r.Job.ID)
	if err != nil {
		return err
	}
	r.Doc.Version++
	spec, _ := json.Marshal(a.captureSpec(r, plan))
	doc, _ := json.Marshal(r.Doc)
	return a.eng.Change(ctx, func(tx engine.Tx) error {
		if _, err := tx.UpdateJob(ctx, r.Job.ID, engine.JobChange{Spec: doc}); err != nil {
			return err
		}
		if r.Doc.State == stateInit && !release {
			return nil // nothing runs yet: the capture's spec is written when it is released
		}
		if capture.Status.Terminal() {
			return nil
		}
		_, err := tx.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: capture.ID, Spec: spec, Release: release})
		return err
	})
}

// setLayout is command 4102: the first one starts a manual recording.
func (a *API) setLayout(ctx context.Context, ap app, recordID string, audio []audioItem, video []videoItem) error {
	return a.refresh(ctx, ap, recordID, func(r *recording, now int64) error {
		if r.Doc.Auto != nil {
			return errf(CodeBadState, "recording %s lays itself out (auto)", recordID)
		}
		switch r.Doc.State {
		case stateInit:
			r.Doc.State, r.Doc.StartedAt = stateRecording, now
		case stateRecording:
		default:
			return errf(CodeBadState, "recording %s has stopped", recordID)
		}
		r.Doc.Audio, r.Doc.Video = audio, video
		return nil
	})
}

// setSubtitles is command 4103.
func (a *API) setSubtitles(ctx context.Context, ap app, recordID string, subs []subtitleItem) error {
	return a.refresh(ctx, ap, recordID, func(r *recording, _ int64) error {
		if r.Doc.State != stateInit && r.Doc.State != stateRecording {
			return errf(CodeBadState, "recording %s has stopped", recordID)
		}
		r.Doc.Subtitles = subs
		return nil
	})
}

// setPaused is commands 4100 (pause) and 4099 (resume); asking for the state it is in is no error.
func (a *API) setPaused(ctx context.Context, ap app, recordID string, paused bool) error {
	return a.refresh(ctx, ap, recordID, func(r *recording, now int64) error {
		if r.Doc.State != stateRecording {
			return errf(CodeBadState, "recording %s is not recording (status %d)", recordID, statusOf(r.Doc, nil))
		}
		if r.Doc.Paused == paused {
			return nil
		}
		if paused {
			r.Doc.PausedAt = now
		} else {
			r.Doc.PausedMs += now - r.Doc.PausedAt
			r.Doc.PausedAt = 0
		}
		r.Doc.Paused = paused
		return nil
	})
}

// stopResult is what stop answers.
type stopResult struct {
	MediaSeconds, RecordSeconds, FlowKB int64
}

// stop is command 4101 (and the idle timeout, the quota): the capture finishes its last segment and
// completes; the finalize follows (Advance). A recording stopped before it started ends at once.
func (a *API) stop(ctx context.Context, ap app, recordID, reason string) (stopResult, error) {
	var res stopResult
	var abort bool
	err := a.refresh(ctx, ap, recordID, func(r *recording, now int64) error {
		switch r.Doc.State {
		case stateInit:
			r.Doc.State, r.Doc.StoppedAt, abort = stateFailed, now, true
			r.Doc.Reason = "stopped before anything was recorded"
			if reason != "" {
				r.Doc.Reason = reason + " before anything was recorded"
			}
			return nil
		case stateRecording:
		default:
			return errf(CodeBadState, "recording %s has stopped already", recordID)
		}
		paused := r.Doc.pausedMillis(now)
		if r.Doc.Paused {
			r.Doc.PausedMs, r.Doc.PausedAt = paused, 0
		}
		r.Doc.State, r.Doc.StoppedAt, r.Doc.Reason = stateStopping, now, reason
		res.RecordSeconds = (now - r.Doc.StartedAt) / 1000
		res.MediaSeconds = max(0, now-r.Doc.StartedAt-paused) / 1000
		capture, _, err := a.unitsOf(ctx, r.Job.ID)
		if err != nil {
			return err
		}
		res.FlowKB = outputsBytes(capture.Outputs) / 1024
		return nil
	})
	if err != nil {
		return res, err
	}
	if abort {
		if err := a.eng.Abort(ctx, mustID(recordID)); err != nil && !errors.Is(err, store.ErrStale) {
			return res, fmt.Errorf("end recording %s: %w", recordID, err)
		}
	}
	return res, nil
}

func mustID(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// outputsBytes sums the sizes of a unit's outputs.
func outputsBytes(raw json.RawMessage) int64 {
	var outs map[string]struct {
		Size int64 `json:"size"`
	}
	if json.Unmarshal(raw, &outs) != nil {
		return 0
	}
	var n int64
	for _, o := range outs {
		n += o.Size
	}
	return n
}

// segmentsOf lists the segments a capture uploaded, in order, from its outputs.
func segmentsOf(raw json.RawMessage) []unitspec.Segment {
	var outs map[string]struct {
		Hash string `json:"hash"`
	}
	if json.Unmarshal(raw, &outs) != nil {
		return nil
	}
	var segs []unitspec.Segment
	for name, o := range outs {
		var i int
		if _, err := fmt.Sscanf(name, "segment.%06d", &i); err == nil && unitspec.SegmentOutput(i) == name {
			segs = append(segs, unitspec.Segment{Hash: o.Hash, Index: i})
		}
	}
	slices.SortFunc(segs, func(x, y unitspec.Segment) int { return x.Index - y.Index })
	return segs
}

// followGroup lets the app's live recordings of a group follow a change of its registry.
func (a *API) followGroup(ctx context.Context, ap app, groupID string) error {
	rs, err := a.listRecordings(ctx, ap, store.JobFilter{Search: groupID, Statuses: liveJobStatuses},
		func(r recording) bool { return r.Job.Name == groupID })
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if r.Doc.State == stateInit && r.Doc.Auto == nil {
			continue
		}
		if err := a.refresh(ctx, ap, r.id(), nil); err != nil && !errors.Is(err, store.ErrStale) {
			errs = append(errs, fmt.Errorf("recording %s: %w", r.id(), err))
		}
	}
	return errors.Join(errs...)
}

// listBatch is how many recordings a list reads from the store at a time when it must filter
// what SQL cannot (a document field), so that no list holds more than a batch of jobs it will not
// answer.
const listBatch = 500

// liveJobStatuses are the job statuses of a recording that has not finished.
var liveJobStatuses = []store.JobStatus{store.JobWaiting, store.JobQueued, store.JobRunning, store.JobPaused}

// recordingPage answers a page (offset, limit; limit 0: all) of the app's recordings, newest first,
// and how many match in all. f filters in SQL (the account, kind and app are set here); keep (nil:
// none) filters in Go what SQL cannot, the document's fields. Without keep only the page is read and
// the total is the store's count; with keep the candidates are read in batches and counted.
func (a *API) recordingPage(ctx context.Context, ap app, f store.JobFilter, keep func(recording) bool, offset, limit int) ([]recording, int, error) {
	f.AccountIDs, f.Kind, f.Project = []int64{ap.AccountID}, Kind, ap.ID
	decode := func(js []store.Job) []recording {
		out := make([]recording, 0, len(js))
		for _, j := range js {
			r, err := decodeRecording(j)
			if err != nil {
				a.log.Warn("recording with an unreadable document", "job", j.ID, "err", err)
				continue
			}
			out = append(out, r)
		}
		return out
	}
	if keep == nil {
		f.Offset, f.Limit = offset, limit
		js, total, err := a.st.ListJobs(ctx, f)
		if err != nil {
			return nil, 0, fmt.Errorf("list recordings: %w", err)
		}
		return decode(js), total, nil
	}
	var page []recording
	total := 0
	for f.Offset, f.Limit = 0, listBatch; ; f.Offset += listBatch {
		js, _, err := a.st.ListJobs(ctx, f)
		if err != nil {
			return nil, 0, fmt.Errorf("list recordings: %w", err)
		}
		for _, r := range decode(js) {
			if !keep(r) {
				continue
			}
			if total >= offset && (limit <= 0 || len(page) < limit) {
				page = append(page, r)
			}
			total++
		}
		if len(js) < listBatch {
			return page, total, nil
		}
	}
}

// listRecordings lists the app's recordings that f (in SQL) and keep (in Go, nil: all) pass, newest
// first.
func (a *API) listRecordings(ctx context.Context, ap app, f store.JobFilter, keep func(recording) bool) ([]recording, error) {
	if keep == nil {
		keep = func(recording) bool { return true } // read in batches rather than in one
	}
	rs, _, err := a.recordingPage(ctx, ap, f, keep, 0, 0)
	return rs, err
}

// timeLayout is how query and the storage calls read and write dates.
const timeLayout = "2006-01-02 15:04:05"

func (a *API) location() *time.Location {
	if a.cfg.TimeZone != "" {
		if l, err := time.LoadLocation(a.cfg.TimeZone); err == nil {
			return l
		}
	}
	return time.UTC
}

func (a *API) formatTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).In(a.location()).Format(timeLayout)
}

// parseTime reads "2006-01-02 15:04:05", "2006-01-02", RFC 3339 or Unix seconds.
func (a *API) parseTime(s string) (time.Time, bool) {
	for _, l := range []string{timeLayout, "2006-01-02", time.RFC3339} {
		if t, err := time.ParseInLocation(l, s, a.location()); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}
