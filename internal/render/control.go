package render

import (
	"context"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// each applies fn to every child job the ids resolve to. A control that does not apply to a child's
// state (stopping a finished task) is skipped: the document's clients send whole selections.
func (a *API) each(ctx context.Context, c *call, fn func(store.Job) error) ([]store.Job, error) {
	return a.eachAfter(ctx, c, nil, fn)
}

// eachAfter is each with onShell first applied to every parent the ids name, before its children are
// listed. A parent still in analysis has no children yet: the control recorded on the parent is what
// the analysis reads once it has created them (startChildren, heldChildren). The order matters: the
// control writes the parent, then reads the children; the analysis writes the children, then reads
// the parent, so whichever comes second sees the other's write.
func (a *API) eachAfter(ctx context.Context, c *call, onShell, fn func(store.Job) error) ([]store.Job, error) {
	ids, err := c.p.taskIDs(true)
	if err != nil {
		return nil, err
	}
	// Every id is resolved before anything is touched, so that an unknown id changes nothing.
	var jobs []store.Job
	var r rules
	for _, id := range ids {
		j, rr, err := a.ownJob(ctx, c, id)
		if err != nil {
			return nil, err
		}
		jobs, r = append(jobs, j), rr
	}
	apply := func(fn func(store.Job) error, j store.Job) error {
		if err := fn(j); err != nil && !errors.Is(err, engine.ErrInvalid) {
			return fmt.Errorf("task %d: %w", j.ID, err)
		}
		return nil
	}
	var shells []store.Job
	for _, j := range jobs {
		if j.Kind == KindRender {
			if err := apply(fn, j); err != nil {
				return nil, err
			}
			continue
		}
		shells = append(shells, j)
		if onShell != nil {
			if err := apply(onShell, j); err != nil {
				return nil, err
			}
		}
		kids, err := a.children(ctx, r.visibleAccountIDs, []int64{j.ID}, true)
		if err != nil {
			return nil, err
		}
		for _, k := range kids[j.ID] {
			if err := apply(fn, k); err != nil {
				return nil, err
			}
		}
	}
	return shells, nil
}

// beforeRender reports whether a parent has no children yet (created, or its scene in analysis), so
// that a stop is recorded on the parent itself.
func beforeRender(shell store.Job) bool {
	st := stateOf(shell).State
	return st == stateCreated || st == stateAnalysing
}

func (a *API) stopTask(ctx context.Context, c *call) (any, error) {
	stopShell := func(s store.Job) error {
		if s.Status.Terminal() || s.Status == store.JobPaused || !beforeRender(s) {
			return nil
		}
		return a.eng.Pause(ctx, s.ID, "user")
	}
	_, err := a.eachAfter(ctx, c, stopShell, func(j store.Job) error {
		if j.Status.Terminal() || j.Status == store.JobPaused {
			return nil
		}
		return a.eng.Pause(ctx, j.ID, "user")
	})
	return nil, err
}

func (a *API) startTask(ctx context.Context, c *call) (any, error) {
	startShell := func(s store.Job) error {
		if s.Status != store.JobPaused {
			return nil
		}
		return a.eng.Resume(ctx, s.ID)
	}
	_, err := a.eachAfter(ctx, c, startShell, func(j store.Job) error {
		if j.Status == store.JobPartial || j.Status == store.JobFailed {
			// TIME_OUT_STOP from the per-frame limit: starting the task renders the stopped frames again.
			return a.restartTimedOut(ctx, j)
		}
		if j.Status != store.JobPaused {
			return nil
		}
		if engine.ReasonOf(j) == engine.PauseArrears {
			err := a.eng.SettleAndResume(ctx, j.ID)
			if errors.Is(err, engine.ErrStillOwes) {
				return apiErr(CodeNoPermission, "task %d is stopped for arrears: top up the account to settle its debt first", j.ID)
			}
			return err
		}
		return a.eng.Resume(ctx, j.ID)
	})
	return nil, err
}

// restartTimedOut queues a finished child's frames that the per-frame limit stopped.
func (a *API) restartTimedOut(ctx context.Context, j store.Job) error {
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: j.ID, Statuses: []store.UnitStatus{store.UnitTimedOut}})
	if err != nil {
		return fmt.Errorf("list timed-out frames of task %d: %w", j.ID, err)
	}
	if len(units) == 0 {
		return nil
	}
	ids := make([]int64, len(units))
	for i, u := range units {
		ids[i] = u.ID
	}
	if _, err := a.eng.RestartUnits(ctx, j.ID, ids); err != nil {
		return fmt.Errorf("restart timed-out frames of task %d: %w", j.ID, err)
	}
	return nil
}

func (a *API) abortTask(ctx context.Context, c *call) (any, error) {
	// The parent is aborted first: a task still in analysis then never gets children (startChildren).
	abort := func(j store.Job) error {
		if j.Status.Terminal() {
			return nil
		}
		return a.eng.Abort(ctx, j.ID)
	}
	abortShell := func(s store.Job) error {
		if err := abort(s); err != nil && !errors.Is(err, engine.ErrInvalid) {
			return err
		}
		return a.endAnalysis(ctx, s, false)
	}
	_, err := a.eachAfter(ctx, c, abortShell, abort)
	return nil, err
}

func (a *API) deleteTask(ctx context.Context, c *call) (any, error) {
	if c.account.ParentID != 0 {
		r, err := a.rulesOf(ctx, c)
		if err != nil {
			return nil, err
		}
		if !r.subDeleteTask {
			return nil, apiErr(CodeNoPermission, "the main account does not allow sub-accounts to delete tasks")
		}
	}
	// The parent first, like abortTask: a task deleted during its analysis never gets children.
	del := func(j store.Job) error { return a.eng.Delete(ctx, j.ID) }
	delShell := func(s store.Job) error {
		if err := del(s); err != nil && !errors.Is(err, engine.ErrInvalid) {
			return err
		}
		return a.endAnalysis(ctx, s, true)
	}
	_, err := a.eachAfter(ctx, c, delShell, del)
	return nil, err
}

func (a *API) restartFailedFrames(ctx context.Context, c *call) (any, error) {
	_, err := a.each(ctx, c, func(j store.Job) error {
		_, err := a.eng.RestartFailed(ctx, j.ID)
		return err
	})
	return nil, err
}

func (a *API) restartFrame(ctx context.Context, c *call) (any, error) {
	id, err := c.p.int(c.p.first("taskIds", "taskId", "taskParam"), true, 0)
	if err != nil {
		// taskIds is documented as one integer here; a list of one is what other endpoints send.
		ids, lerr := c.p.taskIDs(true)
		if lerr != nil || len(ids) != 1 {
			return nil, err
		}
		id = ids[0]
	}
	all, err := c.p.int("selectAll", false, 0)
	if err != nil {
		return nil, err
	}
	if all != 0 && all != 1 {
		return nil, invalid("selectAll must be 0 or 1")
	}
	frameIDs, err := c.p.ints("ids", false)
	if err != nil {
		return nil, err
	}
	if all == 0 && len(frameIDs) == 0 {
		return nil, apiErr(CodeMissing, "ids is required when selectAll is 0")
	}
	kids, err := a.frameJobs(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if all == 1 {
		for _, k := range kids {
			units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: k.ID})
			if err != nil {
				return nil, fmt.Errorf("list frames of task %d: %w", k.ID, err)
			}
			ids := make([]int64, len(units))
			for i, u := range units {
				ids[i] = u.ID
			}
			if len(ids) > 0 {
				if _, err := a.eng.RestartUnits(ctx, k.ID, ids); err != nil && !errors.Is(err, engine.ErrInvalid) {
					return nil, fmt.Errorf("restart frames of task %d: %w", k.ID, err)
				}
			}
		}
		return nil, nil
	}
	// Frame ids of another task (or account) are refused as not found, never touched.
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{UnitIDs: frameIDs})
	if err != nil {
		return nil, fmt.Errorf("load frames: %w", err)
	}
	owned := map[int64]bool{}
	for _, k := range kids {
		owned[k.ID] = true
	}
	byJob := map[int64][]int64{}
	for _, u := range units {
		if owned[u.JobID] {
			byJob[u.JobID] = append(byJob[u.JobID], u.ID)
		}
	}
	n := 0
	for _, list := range byJob {
		n += len(list)
	}
	if n != len(frameIDs) {
		return nil, notFound("frame of task", id)
	}
	for jobID, list := range byJob {
		if _, err := a.eng.RestartUnits(ctx, jobID, list); err != nil && !errors.Is(err, engine.ErrInvalid) {
			return nil, fmt.Errorf("restart frames of task %d: %w", jobID, err)
		}
	}
	return nil, nil
}

// setOverTimeStop sets the per-frame time limit: a frame running longer is stopped with status 11.
func (a *API) setOverTimeStop(ctx context.Context, c *call) (any, error) {
	secs, err := c.p.int("overTime", true, 0)
	if err != nil {
		return nil, err
	}
	if secs < 0 || secs > 30*24*3600 {
		return nil, invalid("overTime must be between 0 and 2592000 seconds")
	}
	d := time.Duration(secs) * time.Second
	ids, err := c.p.taskIDs(true)
	if err != nil {
		return nil, err
	}
	// The limit is kept on the parent first, so that a task still in analysis (no children yet) gets
	// it when its children are created (see startChildren).
	for _, id := range ids {
		j, _, err := a.ownJob(ctx, c, id)
		if err != nil {
			return nil, err
		}
		if j.Kind != KindTask {
			continue
		}
		st := stateOf(j)
		st.OverTimeSec = &secs
		if _, err := a.eng.UpdateJob(ctx, j.ID, engine.JobChange{Spec: mustJSON(st)}); err != nil {
			return nil, fmt.Errorf("set time limit of task %d: %w", j.ID, err)
		}
	}
	_, err = a.each(ctx, c, func(j store.Job) error {
		_, err := a.eng.UpdateJob(ctx, j.ID, engine.JobChange{UnitTimeout: &d})
		return err
	})
	return nil, err
}

// maxTaskUserLevel is the highest taskUserLevel a client sets (0..maxTaskUserLevel), the task's
// priority.
const maxTaskUserLevel = 100

// fullSpeedBoost is how much fullSpeed raises a task's priority, above any taskUserLevel.
const fullSpeedBoost = 1000

func (a *API) fullSpeed(ctx context.Context, c *call) (any, error) {
	// A task still in analysis keeps the boost on its parent, whose priority its children take.
	boostShell := func(s store.Job) error {
		if !beforeRender(s) || s.Priority >= fullSpeedBoost {
			return nil
		}
		return a.eng.SetPriority(ctx, s.ID, s.Priority+fullSpeedBoost)
	}
	_, err := a.eachAfter(ctx, c, boostShell, func(j store.Job) error {
		if err := a.eng.SetConcurrency(ctx, j.ID, 0); err != nil {
			return err
		}
		if j.Priority >= fullSpeedBoost {
			return nil
		}
		return a.eng.SetPriority(ctx, j.ID, j.Priority+fullSpeedBoost)
	})
	if err != nil {
		return nil, err
	}
	return "成功", nil
}

func (a *API) updateTaskUserLevel(ctx context.Context, c *call) (any, error) {
	level, err := c.p.int("taskUserLevel", true, 0)
	if err != nil {
		return nil, err
	}
	if level < 0 || level > maxTaskUserLevel {
		return nil, invalid("taskUserLevel must be between 0 and 100")
	}
	shells, err := a.each(ctx, c, func(j store.Job) error { return a.eng.SetPriority(ctx, j.ID, int(level)) })
	if err != nil {
		return nil, err
	}
	for _, s := range shells {
		st := stateOf(s)
		st.TaskUserLevel = int(level)
		lv := int(level)
		if _, err := a.eng.UpdateJob(ctx, s.ID, engine.JobChange{Priority: &lv, Spec: mustJSON(st)}); err != nil {
			return nil, fmt.Errorf("set level of task %d: %w", s.ID, err)
		}
	}
	return nil, nil
}
