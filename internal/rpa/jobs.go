package rpa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// jobStatus maps an engine job and its one unit to the document's job statuses.
func jobStatus(j store.Job, u store.Unit) string {
	var end jobEnd
	_ = json.Unmarshal(j.Result, &end)
	switch j.Status {
	case store.JobSucceeded:
		return "success"
	case store.JobFailed, store.JobPartial:
		if u.Status == store.UnitTimedOut {
			return "runout"
		}
		return "failed"
	case store.JobCancelled:
		if engine.ReasonOf(j) == engine.PausePendingTimeout {
			return "pendout"
		}
		if end.End != "" {
			return end.End
		}
		return "cancelled"
	case store.JobPaused:
		if engine.ReasonOf(j) == engine.PauseTimeout {
			return "runout"
		}
		return "stopped"
	case store.JobRunning:
		if u.Status == store.UnitQueued && u.Attempts > 0 {
			return "failing" // an attempt failed; the next one waits
		}
		return "running"
	}
	if u.Attempts > 0 {
		return "failing"
	}
	return "pending"
}

// jobByID finds an rpa.job of the caller's scope.
func (a *API) jobByID(ctx context.Context, c *call) (store.Job, jobMeta, error) {
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return store.Job{}, jobMeta{}, err
	}
	j, err := a.st.GetJob(ctx, id)
	var meta jobMeta
	if err == nil {
		_ = json.Unmarshal(j.Spec, &meta)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && (j.AccountID != c.caller.accountID || j.Kind != KindJob || j.Deleted || !inScope(c.caller.org(), meta.OrgCode))) {
		return j, meta, fail(CodeNotFound, "job %d", id)
	}
	return j, meta, err
}

// jobList serves GET /oapi/v1/job?id=<process id>.
func (a *API) jobList(ctx context.Context, c *call) (any, error) {
	pid, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	proc, err := a.processByID(ctx, c.caller, pid)
	if err != nil {
		return nil, err
	}
	jobs, total, err := a.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{c.caller.accountID}, Kind: KindJob,
		Project: proc.Doc.ProcCode, Limit: lim, Offset: off})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	units := map[int64]store.Unit{}
	if len(ids) > 0 {
		us, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobIDs: ids})
		if err != nil {
			return nil, fmt.Errorf("list job units: %w", err)
		}
		for _, u := range us {
			units[u.JobID] = u
		}
	}
	names := a.workerNames(ctx)
	aliases := a.robotAliases(ctx, c.caller.accountID)
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, len(jobs))
	for _, j := range jobs {
		var meta jobMeta
		_ = json.Unmarshal(j.Spec, &meta)
		u := units[j.ID]
		robot := names[u.WorkerID]
		var pending, runSec any = 0, 0
		if u.StartedAt != nil {
			pending = int64(u.StartedAt.Sub(j.CreatedAt).Seconds())
			end := a.now()
			if u.FinishedAt != nil {
				end = *u.FinishedAt
			}
			runSec = int64(end.Sub(*u.StartedAt).Seconds())
		}
		produce := "任务调度"
		if meta.Produce == "manual" {
			produce = "手工运行"
		}
		desc := u.Error
		if desc == "" && j.Status == store.JobSucceeded {
			desc = "机器人执行成功"
		}
		items = append(items, map[string]any{
			"ID": j.ID, "JOB_NO": idString(j.ID), "START_TIME": msPtr(j.StartedAt), "END_TIME": msPtr(j.FinishedAt),
			"CURR_ROBOT_NO": nilIfEmpty(robot), "CURR_ROBOT_NAME": nilIfEmpty(firstNonEmpty(aliases[robot], robot)),
			"PROC_HAND_DO_MIN": 0, "OWBER_USER_ID": meta.OwnerUserID, "OWBER_USER": meta.OwnerUser,
			"PROC_CODE": meta.ProcCode, "PROC_NAME": meta.ProcName, "PROC_VER": meta.ProcVer,
			"PROC_FILE": procFile(meta.ProcCode, meta.ProcVer), "JOB_TIME": ms(j.CreatedAt), "CREATE_TIME": ms(j.CreatedAt),
			"MODIFY_TIME": ms(j.UpdatedAt), "PRIORITY": meta.RPAPriority, "APPLY_USERS": meta.OrgCode + "," + "-" + meta.OwnerUser + "-",
			"PENDING_TIME": pending, "RUN_TIME_SEC": runSec, "PUBLISH_TIME": nilIfZero(meta.PublishTime),
			"STATUS": jobStatus(j, u), "FAIL_TRY_TIMES": meta.FailTryTimes, "DESCRIPTION": desc,
			"PRODUCE_TYPE": produce, "EXEC_ROBOTS_NO": meta.ExecRobotsNo, "EXEC_ROBOTS_NAMES": meta.ExecRobotsNo,
			"EXEC_ROBOTS_ALIAS": meta.ExecRobotsNo, "RUN_TIMES": u.Attempts, "ROBOT_START_TIME": msPtr(u.StartedAt),
			"ROBOT_END_TIME": msPtr(u.FinishedAt), "SCH_TYPE": "unManager", "PENDING_TIMEOUT": meta.PendingTimeout,
			"WAIT_TIMES": 0, "AUTO_STOP_TIME": meta.AutoStopTime, "JOB_ORDER": ms(j.CreatedAt),
			"DEVELOPER_USER": meta.DeveloperUser, "RUNNING_TIMEOUT": meta.RunningTimeout, "ORG_CODE": meta.OrgCode,
			"JOB_TYPE": firstNonEmpty(robot, "plan"), "CUR_ORG_NAME": nilIfEmpty(orgs[meta.OrgCode].Doc.CurName),
			"SCHEDULE_ID": meta.ScheduleID,
		})
	}
	return Page[map[string]any]{Total: total, Items: items}, nil
}

// jobCreate serves POST /oapi/v1/job/create {id: schedule id}: run the schedule once now, with the
// newest released version when the schedule follows the latest.
func (a *API) jobCreate(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permJob); err != nil {
		return nil, err
	}
	r, _, err := a.scheduleByID(ctx, c)
	if err != nil {
		return nil, err
	}
	proc, err := facade.GetDocByKey[processDoc](ctx, a.st, c.caller.accountID, recProcess, r.Doc.ProcCode)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(CodeStateConflict, "the schedule's process is gone")
	}
	if err != nil {
		return nil, err
	}
	spec, err := a.template(ctx, c.caller, r.Doc, proc, "manual")
	if err != nil {
		return nil, err
	}
	j, err := a.eng.Submit(ctx, spec)
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": j.ID, "jobNo": idString(j.ID)}, nil
}

// jobRetry serves POST /oapi/v1/job/retry {id}: a failed, timed-out, stopped or cancelled job runs
// again with fresh attempts.
func (a *API) jobRetry(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permJob); err != nil {
		return nil, err
	}
	j, _, err := a.jobByID(ctx, c)
	if err != nil {
		return nil, err
	}
	if !j.Status.Terminal() {
		return nil, fail(CodeStateConflict, "job %d is still %s", j.ID, j.Status)
	}
	if j.Status == store.JobSucceeded {
		return nil, fail(CodeStateConflict, "job %d succeeded", j.ID)
	}
	us, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	if _, err := a.eng.RestartUnits(ctx, j.ID, ids); err != nil {
		return nil, stateErr(err)
	}
	empty := json.RawMessage(`{}`)
	if _, err := a.eng.UpdateJob(ctx, j.ID, engine.JobChange{Result: empty}); err != nil {
		return nil, err
	}
	return nil, nil
}

// stateErr turns the engine's refusal of a control action into a state conflict.
func stateErr(err error) error {
	if errors.Is(err, engine.ErrInvalid) {
		return &Error{Code: CodeStateConflict, Msg: codes.Text[CodeStateConflict] + ": " + err.Error(), Err: err}
	}
	return err
}

// jobStop serves POST /oapi/v1/job/stop {id}: a job not started yet is cancelled, a running one
// stopped (its robot is told at its next heartbeat).
func (a *API) jobStop(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permJob); err != nil {
		return nil, err
	}
	j, _, err := a.jobByID(ctx, c)
	if err != nil {
		return nil, err
	}
	if j.Status.Terminal() {
		return nil, fail(CodeStateConflict, "job %d has ended", j.ID)
	}
	end := "stopped"
	if j.Status == store.JobQueued || j.Status == store.JobWaiting {
		end = "cancelled"
	}
	if err := a.eng.Abort(ctx, j.ID); err != nil {
		return nil, stateErr(err)
	}
	res, _ := json.Marshal(jobEnd{End: end})
	_, err = a.eng.UpdateJob(ctx, j.ID, engine.JobChange{Result: res})
	return nil, err
}

// jobDelete serves DELETE /oapi/v1/job {id}: stops it if it runs and hides it.
func (a *API) jobDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permJob); err != nil {
		return nil, err
	}
	j, _, err := a.jobByID(ctx, c)
	if err != nil {
		return nil, err
	}
	return nil, stateErr(a.eng.Delete(ctx, j.ID))
}
