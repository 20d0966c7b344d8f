package recording

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// ServiceAdvance is the leader service that moves recordings on: a capture that ended releases its
// finalize, a finalize that ended completes the recording (and charges it), an idle or over-quota
// recording stops, a recording that failed leaves no job running.
const ServiceAdvance = "recording.advance"

// ServiceFold is the leader service that folds finished recordings whose fold (jobFinished, run by
// the process that finished the job) was lost with that process.
const ServiceFold = "recording.fold"

// Advance runs the service once.
func (a *API) Advance(ctx context.Context, now time.Time) error {
	js, _, err := a.st.ListJobs(ctx, store.JobFilter{Kind: Kind,
		Statuses: []store.JobStatus{store.JobQueued, store.JobRunning, store.JobPaused, store.JobWaiting}})
	if err != nil {
		return fmt.Errorf("list live recordings: %w", err)
	}
	return a.advanceAll(ctx, js, now)
}

// Fold runs ServiceFold once: the recordings of the last week that finished and are not yet folded
// and charged.
func (a *API) Fold(ctx context.Context, now time.Time) error {
	week := now.AddDate(0, 0, -7)
	js, _, err := a.st.ListJobs(ctx, store.JobFilter{Kind: Kind, CreatedFrom: &week, Statuses: []store.JobStatus{store.JobSucceeded}})
	if err != nil {
		return fmt.Errorf("list finished recordings: %w", err)
	}
	var todo []store.Job
	for _, j := range js {
		if r, err := decodeRecording(j); err == nil && !(r.Doc.State == stateDone && r.Doc.Charged) && r.Doc.State != stateFailed {
			todo = append(todo, j)
		}
	}
	return a.advanceAll(ctx, todo, now)
}

func (a *API) advanceAll(ctx context.Context, js []store.Job, now time.Time) error {
	var errs []error
	run := &advanceRun{settings: map[int64]Settings{}, used: map[string]int64{}}
	for _, j := range js {
		if err := a.advance(ctx, j, now, run); err != nil {
			errs = append(errs, fmt.Errorf("recording %d: %w", j.ID, err))
		}
	}
	return errors.Join(errs...)
}

// jobFinished folds a finished recording at once rather than at the next run of the service.
func (a *API) jobFinished(ctx context.Context, j store.Job) {
	if err := a.advance(ctx, j, a.now(), nil); err != nil {
		a.log.Warn("fold finished recording", "job", j.ID, "err", err)
	}
}

// advanceRun remembers, for one run over many recordings, what they share: their accounts' settings
// and their apps' used storage, each read once.
type advanceRun struct {
	settings map[int64]Settings
	used     map[string]int64
}

func (r *advanceRun) settingsOf(ctx context.Context, a *API, accountID int64) (Settings, error) {
	if r == nil {
		return a.settings(ctx, accountID)
	}
	if s, ok := r.settings[accountID]; ok {
		return s, nil
	}
	s, err := a.settings(ctx, accountID)
	if err == nil {
		r.settings[accountID] = s
	}
	return s, err
}

func (r *advanceRun) usedOf(ctx context.Context, a *API, ap app) (int64, error) {
	if r == nil {
		return a.usedBytes(ctx, ap)
	}
	if n, ok := r.used[ap.ID]; ok {
		return n, nil
	}
	n, err := a.usedBytes(ctx, ap)
	if err == nil {
		r.used[ap.ID] = n
	}
	return n, err
}

func (a *API) advance(ctx context.Context, j store.Job, now time.Time, run *advanceRun) error {
	r, err := decodeRecording(j)
	if err != nil {
		return err
	}
	ap := app{ID: r.Doc.AppID, AccountID: j.AccountID}
	switch r.Doc.State {
	case stateInit:
		return nil
	case stateRecording:
		return a.watch(ctx, ap, r, now, run)
	case stateStopping:
		return a.afterCapture(ctx, ap, r.id())
	case stateFinalizing:
		return a.afterFinalize(ctx, ap, r.id())
	case stateDone:
		return a.charge(ctx, ap, r.id())
	case stateFailed:
		if !j.Status.Terminal() {
			if err := a.eng.Abort(ctx, j.ID); err != nil && !errors.Is(err, store.ErrStale) {
				return err
			}
		}
	}
	return nil
}

// watch stops a recording whose sources have all been gone for its timeout with no command since,
// or whose app's storage is full, and finalizes one whose capture failed for good.
func (a *API) watch(ctx context.Context, ap app, r recording, now time.Time, run *advanceRun) error {
	capture, _, err := a.unitsOf(ctx, r.Job.ID)
	if err != nil {
		return err
	}
	if capture.Status.Terminal() {
		return a.afterCapture(ctx, ap, r.id())
	}
	// A source delivers when the registry has it and, once a recorder runs the capture, the recorder
	// reports it delivering (the capture's progress is its sources' health, see unitspec.Recording).
	// A queued capture (no recorder yet, or between holders) is judged by the registry alone.
	delivering := r.Doc.HadMedia && (capture.Status != store.UnitRunning || capture.Progress > 0)
	if delivering != (r.Doc.SilentSince == 0) {
		since := int64(0)
		if !delivering {
			since = now.UnixMilli()
		}
		if r, err = a.markSilence(ctx, ap, r.id(), since); err != nil || r.Doc.State != stateRecording {
			return ignoreNotFound(err)
		}
	}
	idleSince := max(r.Doc.LastCommand, r.Doc.SilentSince)
	if !r.Doc.HadMedia {
		idleSince = max(r.Doc.LastCommand, r.Doc.LastLive) // the registry knows when its last source left
	}
	if !delivering && now.UnixMilli()-idleSince > int64(r.Doc.Timeout)*1000 {
		why := "no source in the group"
		if r.Doc.HadMedia {
			why = "the recorder received nothing from any source"
		}
		_, err := a.stop(ctx, ap, r.id(), "timeout: "+why+" for "+strconv.Itoa(r.Doc.Timeout)+" s and no command came")
		return ignoreBadState(err)
	}
	set, err := run.settingsOf(ctx, a, ap.AccountID)
	if err != nil {
		return err
	}
	if q := set.quotaOf(ap.ID); q > 0 {
		used, err := run.usedOf(ctx, a, ap)
		if err != nil {
			return err
		}
		if used+outputsBytes(capture.Outputs) >= q {
			_, err := a.stop(ctx, ap, r.id(), "storage quota used up")
			return ignoreBadState(err)
		}
	}
	return nil
}

// markSilence records when the recording's sources stopped delivering (since), or that one delivers
// again (0), and returns the recording as stored.
func (a *API) markSilence(ctx context.Context, ap app, recordID string, since int64) (recording, error) {
	unlock, err := a.lock(ctx, "r:"+recordID)
	if err != nil {
		return recording{}, err
	}
	defer unlock()
	r, err := a.getRecording(ctx, ap, recordID)
	if err != nil || r.Doc.State != stateRecording || (r.Doc.SilentSince == 0) == (since == 0) {
		return r, err
	}
	r.Doc.SilentSince = since
	doc, _ := json.Marshal(r.Doc)
	if r.Job, err = a.eng.UpdateJob(ctx, r.Job.ID, engine.JobChange{Spec: doc}); err != nil {
		return recording{}, fmt.Errorf("mark recording %s silent: %w", recordID, err)
	}
	return r, nil
}

func ignoreBadState(err error) error {
	var fe *facade.Error
	if errors.As(err, &fe) && fe.Code == CodeBadState {
		return nil // a client's command moved it first
	}
	return err
}

// afterCapture releases the finalize once the capture has ended, with the segments it stored: all
// of them when it completed, those that reached the store when it failed (what was recorded is
// kept). A capture that stored nothing fails the recording.
func (a *API) afterCapture(ctx context.Context, ap app, recordID string) error {
	unlock, err := a.lock(ctx, "r:"+recordID)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := a.getRecording(ctx, ap, recordID)
	if err != nil || r.Doc.State != stateStopping && r.Doc.State != stateRecording {
		return ignoreNotFound(err)
	}
	capture, finalize, err := a.unitsOf(ctx, r.Job.ID)
	if err != nil || !capture.Status.Terminal() {
		return err
	}
	now := a.now().UnixMilli()
	segs := segmentsOf(capture.Outputs)
	var res unitspec.CaptureResult
	if capture.Status == store.UnitDone && json.Unmarshal(capture.Result, &res) == nil && len(res.Segments) > 0 {
		segs = res.Segments
	}
	if r.Doc.State == stateRecording { // the capture ended without a stop: its recorders failed
		r.Doc.StoppedAt = now
		r.Doc.Reason = "recorder failed: " + capture.Error
		if r.Doc.Paused {
			r.Doc.PausedMs, r.Doc.PausedAt = r.Doc.pausedMillis(now), 0
		}
	}
	r.Doc.FlowKB = res.FlowKB
	if r.Doc.FlowKB == 0 {
		r.Doc.FlowKB = outputsBytes(capture.Outputs) / 1024
	}
	r.Doc.MediaMillis = res.MediaMillis
	if r.Doc.MediaMillis == 0 {
		r.Doc.MediaMillis = max(0, r.Doc.StoppedAt-r.Doc.StartedAt-r.Doc.PausedMs)
	}
	if len(segs) == 0 {
		r.Doc.State = stateFailed
		if r.Doc.Reason == "" {
			r.Doc.Reason = "nothing was recorded"
		}
		doc, _ := json.Marshal(r.Doc)
		if _, err := a.eng.UpdateJob(ctx, r.Job.ID, engine.JobChange{Spec: doc}); err != nil {
			return err
		}
		if err := a.eng.Abort(ctx, r.Job.ID); err != nil && !errors.Is(err, store.ErrStale) {
			return err
		}
		return nil
	}
	r.Doc.State = stateFinalizing
	spec, _ := json.Marshal(unitspec.Recording{Mode: unitspec.ModeFinalize, RecordID: r.id(), Version: 1,
		Canvas:   unitspec.Canvas{Width: r.Doc.Width, Height: r.Doc.Height, FrameRate: r.Doc.FrameRate},
		FileType: r.Doc.FileType, Segments: segs, SliceSeconds: max(1, int(time.Duration(r.Doc.FileDuration)*a.cfg.Minute/time.Second)), FileName: r.Doc.FileName})
	doc, _ := json.Marshal(r.Doc)
	return a.eng.Change(ctx, func(tx engine.Tx) error {
		if _, err := tx.UpdateJob(ctx, r.Job.ID, engine.JobChange{Spec: doc}); err != nil {
			return err
		}
		_, err := tx.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: finalize.ID, Spec: spec, Release: true})
		return err
	})
}

func ignoreNotFound(err error) error {
	var fe *facade.Error
	if errors.As(err, &fe) && fe.Code == CodeNotFound {
		return nil // deleted meanwhile
	}
	return err
}

// afterFinalize folds the finalize's slices into the recording (status 6), or its failure (-1).
func (a *API) afterFinalize(ctx context.Context, ap app, recordID string) error {
	unlock, err := a.lock(ctx, "r:"+recordID)
	if err != nil {
		return err
	}
	r, err := a.getRecording(ctx, ap, recordID)
	if err != nil || r.Doc.State != stateFinalizing {
		unlock()
		return ignoreNotFound(err)
	}
	_, finalize, err := a.unitsOf(ctx, r.Job.ID)
	if err != nil || !finalize.Status.Terminal() {
		unlock()
		return err
	}
	var res unitspec.FinalizeResult
	if finalize.Status == store.UnitDone && json.Unmarshal(finalize.Result, &res) == nil && len(res.Slices) > 0 {
		r.Doc.State, r.Doc.Slices, r.Doc.Bytes = stateDone, res.Slices, 0
		for _, s := range res.Slices {
			r.Doc.Bytes += s.Size
		}
	} else {
		r.Doc.State = stateFailed
		r.Doc.Reason = "encoding failed: " + finalize.Error
		if finalize.Status == store.UnitDone {
			r.Doc.Reason = "encoding produced no file"
		}
	}
	doc, _ := json.Marshal(r.Doc)
	_, err = a.eng.UpdateJob(ctx, r.Job.ID, engine.JobChange{Spec: doc})
	unlock()
	if err != nil {
		return err
	}
	if r.Doc.State == stateDone {
		return a.charge(ctx, ap, recordID)
	}
	return nil
}

// charge bills a completed recording's minutes to its account, once (engine.ChargeOnce keyed by the
// recording).
func (a *API) charge(ctx context.Context, ap app, recordID string) error {
	unlock, err := a.lock(ctx, "r:"+recordID)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := a.getRecording(ctx, ap, recordID)
	if err != nil || r.Doc.State != stateDone || r.Doc.Charged {
		return ignoreNotFound(err)
	}
	set, err := a.settings(ctx, ap.AccountID)
	if err != nil {
		return err
	}
	minutes := (r.Doc.MediaMillis + 59_999) / 60_000
	if amount := minutes * set.PriceMilliPerMinute; amount > 0 {
		if _, _, err := a.eng.ChargeOnce(ctx, engine.Charge{AccountID: ap.AccountID, JobID: r.Job.ID,
			Key: "recording:" + recordID, AmountMilli: amount, Note: fmt.Sprintf("%d recorded minutes", minutes)}); err != nil {
			return err
		}
	}
	r.Doc.Charged = true
	doc, _ := json.Marshal(r.Doc)
	_, err = a.eng.UpdateJob(ctx, r.Job.ID, engine.JobChange{Spec: doc})
	return err
}

// httpMedia is the registry's HTTP extension: a media server's webhook reports a user joining,
// publishing, unpublishing or leaving.
func (a *API) httpMedia(ctx context.Context, ap app, p facade.Params) (any, error) {
	c, err := readMediaChange(p)
	if err != nil {
		return nil, err
	}
	return nil, a.changeMedia(ctx, ap, c)
}

// httpGroup answers a group's registry.
func (a *API) httpGroup(ctx context.Context, ap app, p facade.Params) (any, error) {
	return a.groupQuery(ctx, ap, p)
}
