package aitasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Polling. The leader plans (planPolls): it takes the due tasks that no poll job holds, groups
// them by channel, and submits one poll job per batch, claiming the batch's tasks for that job in
// the job's own transaction, so that no task is in two batches and so never polled by two workers at
// once. In-process workers on every replica lease the batches (poll), ask the channel once for the
// whole batch, apply what it says with guarded updates, and free the tasks, due again one interval
// later. A batch whose worker died is leased again by another replica once the engine's rescuer
// takes it back.

// planLimit bounds the tasks one planning run takes.
const planLimit = 20000

// pollSpec is a poll unit's spec.
type pollSpec struct {
	ChannelID int64   `json:"channel_id"`
	Platform  string  `json:"platform"`
	TaskIDs   []int64 `json:"task_ids"`
}

func (a *API) planPolls(ctx context.Context, now time.Time) error {
	due, err := a.st.DueAITasks(ctx, pollingStatuses, now, planLimit)
	if err != nil {
		return err
	}
	type key struct {
		tenant, channel int64
		platform        string
	}
	groups := map[key][]int64{}
	var order []key
	for _, t := range due {
		k := key{t.TenantID, t.ChannelID, t.Platform}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], t.ID)
	}
	for _, k := range order {
		ids := groups[k]
		for start := 0; start < len(ids); start += a.cfg.BatchSize {
			batch := ids[start:min(start+a.cfg.BatchSize, len(ids))]
			spec, _ := json.Marshal(pollSpec{ChannelID: k.channel, Platform: k.platform, TaskIDs: batch})
			err := a.eng.WithTx(ctx, func(tx engine.Tx) error {
				j, err := tx.Submit(ctx, engine.JobSpec{AccountID: k.tenant, Kind: KindPoll, MaxAttempts: 3,
					Name:        fmt.Sprintf("poll channel %d", k.channel),
					UnitTimeout: engine.Duration(2*a.cfg.HTTP.Timeout + time.Minute),
					Units:       []engine.UnitSpec{{Capability: capabilityPoll, Spec: spec}}})
				if err != nil {
					return err
				}
				return tx.AITasks().ClaimAITasks(ctx, batch, j.ID)
			})
			if errors.Is(err, store.ErrConflict) {
				continue // another planner (a leadership hand-over) took some of them
			}
			if err != nil {
				return fmt.Errorf("plan a poll of channel %d: %w", k.channel, err)
			}
		}
	}
	return nil
}

// poll runs one batch: one upstream call (music) or a rate-limited burst of them (video).
func (a *API) poll(ctx context.Context, u store.Unit) (json.RawMessage, error) {
	var sp pollSpec
	if err := json.Unmarshal(u.Spec, &sp); err != nil {
		return nil, fmt.Errorf("%w: poll spec: %v", engine.ErrPermanent, err)
	}
	defer a.release(ctx, u.JobID)
	all, err := a.st.GetAITasksByIDs(ctx, sp.TaskIDs)
	if err != nil {
		return nil, err
	}
	ts := slices.DeleteFunc(all, func(t store.AITask) bool { return !t.Active || t.PollJob != u.JobID })
	if len(ts) == 0 {
		return nil, nil
	}
	ch, err := a.st.GetAIChannel(ctx, sp.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		// The channel is gone: nobody can tell what became of the tasks; each is refunded.
		for _, t := range ts {
			if _, err := a.finish(ctx, t, t.Status, state{Status: StatusFailure, FailReason: "the task's channel was removed"}); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ad := a.adaptors[sp.Platform]
	if ad == nil {
		return nil, fmt.Errorf("%w: unknown platform %q", engine.ErrPermanent, sp.Platform)
	}
	up, err := a.open(ch)
	if err != nil {
		return nil, fmt.Errorf("open the key of channel %d: %w", ch.ID, err)
	}
	states, err := ad.fetch(ctx, a.cfg.HTTP, up, ts)
	if err != nil {
		ue := asUpstream(err)
		if ue.Auth {
			a.noteAuth(ctx, ch, false)
		}
		a.log.Info("poll failed: backing off", "channel", ch.ID, "tasks", len(ts), "status", ue.Status, "err", ue.Msg)
		return nil, a.backOff(ctx, ts)
	}
	now := a.now()
	for _, t := range ts {
		s, ok := states[t.UpstreamID]
		if !ok {
			continue // released below, polled again next interval
		}
		if finalStatus(s.Status) {
			if _, err := a.finish(ctx, t, t.Status, s); err != nil {
				return nil, err
			}
			continue
		}
		hasData := len(s.Data) > 0 && json.Valid(s.Data) && string(s.Data) != "null"
		if s.Status == t.Status && (s.Progress == "" || s.Progress == t.Progress) && !hasData && t.PollFailures == 0 {
			continue // nothing new: freed with the rest of the batch in one statement below
		}
		next := now.Add(a.cfg.PollInterval)
		p := store.AITaskPatch{Status: &s.Status, NextPollAt: &next, PollJob: ptr(int64(0)), PollFailures: ptr(0)}
		if s.Progress != "" {
			p.Progress = &s.Progress
		}
		if hasData {
			p.Data = s.Data
		}
		if _, err := a.st.UpdateAITask(ctx, t.ID, t.Status, p, now); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// backOff puts the batch off after an upstream failure (429, 5xx, garbage, no answer): twice the
// interval per failure in a row, at most 32 intervals.
func (a *API) backOff(ctx context.Context, ts []store.AITask) error {
	now := a.now()
	for _, t := range ts {
		f := t.PollFailures + 1
		next := now.Add(a.cfg.PollInterval << min(f, 5))
		if _, err := a.st.UpdateAITask(ctx, t.ID, t.Status, store.AITaskPatch{NextPollAt: &next, PollJob: ptr(int64(0)),
			PollFailures: &f}, now); err != nil {
			return err
		}
	}
	return nil
}

// release frees what poll job jobID still holds, due one interval later.
func (a *API) release(ctx context.Context, jobID int64) {
	if _, err := a.st.ReleaseAITasks(context.WithoutCancel(ctx), jobID, a.now().Add(a.cfg.PollInterval)); err != nil {
		a.log.Warn("release polled tasks", "job", jobID, "err", err)
	}
}

// pollJobFinished frees a finished batch's tasks (a batch that failed for good still held them) and
// removes the job: poll jobs are bookkeeping, one every interval per batch, and are not kept.
func (a *API) pollJobFinished(ctx context.Context, j store.Job) {
	a.release(ctx, j.ID)
	if err := a.eng.Purge(context.WithoutCancel(ctx), j.ID); err != nil {
		a.log.Warn("purge poll job", "job", j.ID, "err", err)
	}
}

// freeStaleClaims frees the tasks of poll jobs that are gone or finished but still hold them (a
// process that died between a batch's end and its bookkeeping); the engine's own rescuer takes care
// of batches still running.
func (a *API) freeStaleClaims(ctx context.Context, now time.Time) error {
	jobs, err := a.st.StaleAIPollJobs(ctx, now.Add(-staleClaimAfter), 100)
	if err != nil {
		return err
	}
	for _, id := range jobs {
		j, err := a.st.GetJob(ctx, id)
		if err == nil && !j.Status.Terminal() {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := a.st.ReleaseAITasks(ctx, id, now); err != nil {
			return err
		}
	}
	return nil
}

// staleClaimAfter is how long past its due time a held task waits before its claim is checked.
const staleClaimAfter = 10 * time.Minute

// failOverdue fails and refunds, each once, the tasks past their time-out and the submits a crash cut
// off (left NOT_START, their upstream never told of them or never answered).
func (a *API) failOverdue(ctx context.Context, now time.Time) error {
	if err := a.freeStaleClaims(ctx, now); err != nil {
		return err
	}
	ts, err := a.st.OverdueAITasks(ctx, now, now.Add(-a.cfg.SubmitGrace), 1000)
	if err != nil {
		return err
	}
	for _, t := range ts {
		reason := fmt.Sprintf("timed out: not finished within %s", a.cfg.TaskTimeout)
		if t.Status == StatusNotStart {
			reason = "the submit was interrupted before the upstream accepted the task"
		}
		if _, err := a.finish(ctx, t, t.Status, state{Status: StatusFailure, FailReason: reason}); err != nil {
			return err
		}
	}
	return nil
}
