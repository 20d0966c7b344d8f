package rpa

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// A schedule is listed within the caller's department.
func (d scheduleDoc) RecordScope() string { return d.OrgCode }
func (d scheduleDoc) RecordName() string  { return d.SchName }

type scheduleDoc struct {
	ScheduleID     int64  `json:"scheduleId"`
	SchName        string `json:"schName"`
	ProcCode       string `json:"procCode"`
	ProcVer        string `json:"procVer"`
	ScheduleMode   string `json:"scheduleMode"`
	ScheduleExpre  string `json:"scheduleExpre"` // as the user wrote it
	Cron           string `json:"cron"`          // what the engine runs (workday switch applied)
	ScheduleTime   string `json:"scheduleTime"`
	StartTime      int64  `json:"startTime,omitempty"`
	EndTime        int64  `json:"endTime,omitempty"`
	Priority       int64  `json:"priority"` // 0 urgent, 1 normal, 2 low
	ExecRobotsNo   string `json:"execRobotsNo"`
	SchParam       string `json:"schParam,omitempty"`
	RunMode        string `json:"runMode"`
	PendingTimeout int64  `json:"pendingTimeout"`
	RunningTimeout int64  `json:"runningTimeout"`
	AutoStopTime   int64  `json:"autoStopTime"`
	FailTryTimes   int64  `json:"failTryTimes"`
	Script         int64  `json:"script"` // 1 every day, 2 workdays, 3 non-workdays
	OwnerUserID    int64  `json:"ownerUserId"`
	OwnerUser      string `json:"ownerUser"`
	OrgCode        string `json:"orgCode"`
	Ticket         string `json:"ticket"` // the job ticket robots trade for a job-scoped token
}

// maxCandidates bounds the robots a schedule may name (the engine takes up to 1,000 tags a unit).
const maxCandidates = 200

// JobUnitSpec is the spec of an rpa.job unit, what the robot's executor reads (internal/unitspec).
type JobUnitSpec = unitspec.RPA

// jobMeta is the job-level spec: what the job list shows beyond the engine's fields.
type jobMeta struct {
	ScheduleID     int64  `json:"scheduleId"`
	SchName        string `json:"schName"`
	ProcCode       string `json:"procCode"`
	ProcVer        string `json:"procVer"`
	ProcName       string `json:"procName"`
	Produce        string `json:"produce"` // schedule or manual
	RPAPriority    int64  `json:"priority"`
	ExecRobotsNo   string `json:"execRobotsNo"`
	PendingTimeout int64  `json:"pendingTimeout"`
	RunningTimeout int64  `json:"runningTimeout"`
	AutoStopTime   int64  `json:"autoStopTime"`
	FailTryTimes   int64  `json:"failTryTimes"`
	OwnerUserID    int64  `json:"ownerUserId"`
	OwnerUser      string `json:"ownerUser"`
	OrgCode        string `json:"orgCode"`
	DeveloperUser  string `json:"developerUser"`
	PublishTime    int64  `json:"publishTime"`
}

// jobEnd is kept in the job's result when the facade ended it: stopped, cancelled or pendout.
type jobEnd struct {
	End string `json:"end"`
}

// enginePriority turns the document's 0 urgent / 1 normal / 2 low into the engine's higher-first.
func enginePriority(p int64) int { return int(2 - p) }

// applyWorkday restricts a cron's day-of-week for the workday switch when the expression leaves
// the day free (script 2: Monday to Friday, 3: Saturday and Sunday).
func applyWorkday(expr string, script int64) (string, error) {
	if script == 1 || script == 0 {
		return expr, nil
	}
	f := strings.Fields(expr)
	if len(f) < 6 {
		return "", fail(CodeParamInvalid, "the workday switch needs a six-field cron")
	}
	if f[5] != "?" && f[5] != "*" {
		return "", fail(CodeParamInvalid, "the workday switch needs a cron whose day-of-week is ? or *")
	}
	if script == 2 {
		f[5] = "MON-FRI"
	} else {
		f[5] = "SAT,SUN"
	}
	if f[3] != "?" && f[3] != "*" {
		return "", fail(CodeParamInvalid, "the workday switch needs a cron whose day-of-month is ? or *")
	}
	f[3] = "?"
	return strings.Join(f, " "), nil
}

// scheduleFields reads a schedule's definition; create requires what edit may leave out.
func (a *API) scheduleFields(ctx context.Context, c *call, d *scheduleDoc, create bool) (rec[processDoc], error) {
	p := c.p
	var proc rec[processDoc]
	var err error
	if create || p.Has("schName") {
		if d.SchName, err = p.Text("schName", true, 50); err != nil {
			return proc, err
		}
	}
	code := d.ProcCode
	if create || p.Has("procCode") || p.Has("procId") {
		if pid, err := p.Int("procId", false, 1, 1<<62, 0); err != nil {
			return proc, err
		} else if pid != 0 {
			if proc, err = a.processByID(ctx, c.caller, pid); err != nil {
				return proc, err
			}
			code = proc.Doc.ProcCode
		} else if code, err = p.Text("procCode", true, 50); err != nil {
			return proc, err
		}
	}
	if proc.ID == 0 {
		proc, err = facade.GetDocByKey[processDoc](ctx, a.st, c.caller.accountID, recProcess, code)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (!inScope(c.caller.org(), proc.Doc.OrgCode) || proc.Doc.WorkStatus == wsDeleted)) {
			return proc, fail(CodeNotFound, "process %s", code)
		}
		if err != nil {
			return proc, err
		}
	}
	d.ProcCode = proc.Doc.ProcCode
	if p.Has("procVer") {
		if d.ProcVer, err = p.Text("procVer", false, 30); err != nil {
			return proc, err
		}
	}
	type num struct {
		name     string
		v        *int64
		min, max int64
		def      int64
	}
	for _, n := range []num{
		{"priority", &d.Priority, 0, 2, 1}, {"pendingTimeout", &d.PendingTimeout, 0, 1440, 0},
		{"runningTimeout", &d.RunningTimeout, 0, 10080, 0}, {"autoStopTime", &d.AutoStopTime, 0, 10080, 0},
		{"failTryTimes", &d.FailTryTimes, 0, 99, 0}, {"script", &d.Script, 1, 3, 1},
	} {
		if create || p.Has(n.name) {
			def := n.def
			if !create {
				def = *n.v
			}
			if *n.v, err = p.Int(n.name, false, n.min, n.max, def); err != nil {
				return proc, err
			}
		}
	}
	if create || p.Has("runMode") {
		if d.RunMode, err = p.Text("runMode", false, 20); err != nil {
			return proc, err
		}
		switch d.RunMode {
		case "":
			d.RunMode = "time"
		case "time", "startup", "keep":
		default:
			return proc, fail(CodeParamInvalid, "runMode must be time, startup or keep")
		}
	}
	if create || p.Has("scheduleMode") {
		mode, err := p.Int("scheduleMode", false, 0, 6, 6)
		if err != nil {
			return proc, err
		}
		d.ScheduleMode = strconv.FormatInt(mode, 10)
	}
	if create || p.Has("execRobotsNo") || p.Has("robotsNo") {
		robots, err := p.FirstText(false, 4000, "execRobotsNo", "robotsNo")
		if err != nil {
			return proc, err
		}
		if robots == "" || robots == "all" {
			robots = "-all-"
		}
		d.ExecRobotsNo = robots
	}
	if p.Has("schParam") {
		if d.SchParam, err = p.Text("schParam", false, 4000); err != nil {
			return proc, err
		}
		if d.SchParam != "" && !json.Valid([]byte(d.SchParam)) {
			return proc, fail(CodeParamInvalid, "schParam must be JSON text")
		}
	}
	for _, t := range []struct {
		name string
		v    *int64
	}{{"startTime", &d.StartTime}, {"endTime", &d.EndTime}} {
		if !p.Has(t.name) {
			continue
		}
		s, err := p.Text(t.name, false, 40)
		if err != nil {
			return proc, err
		}
		*t.v = 0
		if s != "" {
			tm, err := a.parseTime(s)
			if err != nil {
				return proc, fail(CodeParamInvalid, "%s: %v", t.name, err)
			}
			*t.v = tm.UnixMilli()
		}
	}
	if create || p.Has("scheduleExpre") || p.Has("cron") {
		if d.ScheduleExpre, err = p.FirstText(false, 200, "scheduleExpre", "cron"); err != nil {
			return proc, err
		}
	}
	if d.ScheduleExpre == "" {
		// A one-time schedule (mode 0) fires at its start time.
		if d.ScheduleMode != "0" || d.StartTime == 0 {
			return proc, fail(CodeParamMissing, "scheduleExpre is required (a one-time schedule needs startTime)")
		}
		t := time.UnixMilli(d.StartTime).In(a.loc)
		d.ScheduleExpre = fmt.Sprintf("%d %d %d %d %d ?", t.Second(), t.Minute(), t.Hour(), t.Day(), int(t.Month()))
		d.EndTime = d.StartTime + 1000
	}
	if d.Cron, err = applyWorkday(d.ScheduleExpre, d.Script); err != nil {
		return proc, err
	}
	if _, err := engine.ParseCron(d.Cron); err != nil {
		return proc, fail(CodeParamInvalid, "scheduleExpre: %v", err)
	}
	if d.StartTime != 0 && d.EndTime != 0 && d.EndTime < d.StartTime {
		return proc, fail(CodeParamInvalid, "endTime is before startTime")
	}
	return proc, nil
}

// template builds the engine job a schedule creates each time it fires.
func (a *API) template(ctx context.Context, c *caller, d scheduleDoc, proc rec[processDoc], produce string) (engine.JobSpec, error) {
	v, err := a.releasedVersion(ctx, c, proc, d.ProcVer)
	if err != nil {
		return engine.JobSpec{}, err
	}
	var candidates, tags []string
	if d.ExecRobotsNo != "-all-" {
		for _, r := range strings.Split(d.ExecRobotsNo, ",") {
			if r = strings.Trim(strings.TrimSpace(r), "-"); r != "" && !slices.Contains(candidates, r) {
				candidates = append(candidates, r)
				tags = append(tags, RobotTagPrefix+r)
			}
		}
		if len(candidates) > maxCandidates {
			return engine.JobSpec{}, fail(CodeParamInvalid, "execRobotsNo names more than %d robots", maxCandidates)
		}
	}
	unit, _ := json.Marshal(JobUnitSpec{
		Package: v.Doc.Hash, File: procFile(v.Doc.ProcCode, v.Doc.ProcVer), Entry: v.Doc.Entry,
		ProcCode: v.Doc.ProcCode, ProcVer: v.Doc.ProcVer, Candidates: candidates, Ticket: d.Ticket, Params: d.SchParam,
		Env: map[string]string{"RPA_PROC_CODE": v.Doc.ProcCode, "RPA_PROC_VER": v.Doc.ProcVer},
	})
	meta, _ := json.Marshal(jobMeta{
		ScheduleID: d.ScheduleID, SchName: d.SchName, ProcCode: v.Doc.ProcCode, ProcVer: v.Doc.ProcVer,
		ProcName: proc.Doc.ProcName, Produce: produce, RPAPriority: d.Priority, ExecRobotsNo: d.ExecRobotsNo,
		PendingTimeout: d.PendingTimeout, RunningTimeout: d.RunningTimeout, AutoStopTime: d.AutoStopTime,
		FailTryTimes: d.FailTryTimes, OwnerUserID: d.OwnerUserID, OwnerUser: d.OwnerUser, OrgCode: d.OrgCode,
		DeveloperUser: v.Doc.DeveloperUser, PublishTime: v.Doc.PublishTime,
	})
	return engine.JobSpec{
		AccountID: c.accountID, Kind: KindJob, Name: proc.Doc.ProcName, Project: v.Doc.ProcCode,
		Priority: enginePriority(d.Priority), MaxAttempts: int(d.FailTryTimes) + 1,
		UnitTimeout:    engine.Duration(time.Duration(d.RunningTimeout) * time.Minute),
		JobTimeout:     engine.Duration(time.Duration(d.AutoStopTime) * time.Minute),
		PendingTimeout: engine.Duration(time.Duration(d.PendingTimeout) * time.Minute),
		Spec:           meta,
		// The engine hands the unit only to a robot carrying one of the candidates' tags.
		Units: []engine.UnitSpec{{Name: v.Doc.ProcCode, Capability: CapabilityRobot, AnyTags: tags, Spec: unit}},
	}, nil
}

func (a *API) engineSpec(c *caller, d scheduleDoc, enabled bool, tmpl engine.JobSpec) engine.ScheduleSpec {
	sp := engine.ScheduleSpec{AccountID: c.accountID, Name: d.SchName, Cron: d.Cron, Timezone: a.loc.String(), Enabled: enabled, Template: tmpl}
	if sp.Timezone == "Local" {
		sp.Timezone = ""
	}
	if d.StartTime != 0 {
		t := time.UnixMilli(d.StartTime)
		sp.StartAt = &t
	}
	if d.EndTime != 0 {
		t := time.UnixMilli(d.EndTime)
		sp.EndAt = &t
	}
	return sp
}

// scheduleCreate serves POST /oapi/v1/schedule (extension).
func (a *API) scheduleCreate(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permSchedule); err != nil {
		return nil, err
	}
	d := scheduleDoc{OwnerUserID: c.caller.user.ID, OwnerUser: c.caller.userName(), Ticket: auth.RandomHex(24)}
	proc, err := a.scheduleFields(ctx, c, &d, true)
	if err != nil {
		return nil, err
	}
	d.OrgCode = proc.Doc.OrgCode
	enabled, err := c.p.YesNo("enabled", true)
	if err != nil {
		return nil, err
	}
	if c.p.Has("status") { // the list's status: 0 enabled, 1 disabled
		st, err := c.p.Int("status", false, 0, 1, 0)
		if err != nil {
			return nil, err
		}
		enabled = st == 0
	}
	tmpl, err := a.template(ctx, c.caller, d, proc, "schedule")
	if err != nil {
		return nil, err
	}
	s, err := a.eng.CreateSchedule(ctx, a.engineSpec(c.caller, d, enabled, tmpl))
	if err != nil {
		return nil, err
	}
	d.ScheduleID = s.ID
	// The template names the schedule, so that its jobs point back to it: write it again with the id.
	if tmpl, err = a.template(ctx, c.caller, d, proc, "schedule"); err == nil {
		_, err = a.eng.UpdateSchedule(ctx, s.ID, a.engineSpec(c.caller, d, enabled, tmpl))
	}
	if err == nil {
		_, err = a.put(ctx, store.Record{AccountID: c.caller.accountID, Kind: recSchedule, Key: idString(s.ID)}, d)
	}
	if err != nil {
		_ = a.eng.DeleteSchedule(ctx, s.ID)
		return nil, err
	}
	return map[string]any{"id": s.ID}, nil
}

// scheduleByID finds a schedule of the caller's scope by the id parameter.
func (a *API) scheduleByID(ctx context.Context, c *call) (rec[scheduleDoc], store.Schedule, error) {
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return rec[scheduleDoc]{}, store.Schedule{}, err
	}
	d, err := facade.GetDocByKey[scheduleDoc](ctx, a.st, c.caller.accountID, recSchedule, idString(id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), d.Doc.OrgCode)) {
		return d, store.Schedule{}, fail(CodeNotFound, "schedule %d", id)
	}
	if err != nil {
		return d, store.Schedule{}, err
	}
	s, err := a.st.GetSchedule(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.AccountID != c.caller.accountID) {
		return d, s, fail(CodeNotFound, "schedule %d", id)
	}
	return d, s, err
}

// scheduleEdit serves PUT /oapi/v1/schedule (extension).
func (a *API) scheduleEdit(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permSchedule); err != nil {
		return nil, err
	}
	r, s, err := a.scheduleByID(ctx, c)
	if err != nil {
		return nil, err
	}
	d := r.Doc
	proc, err := a.scheduleFields(ctx, c, &d, false)
	if err != nil {
		return nil, err
	}
	tmpl, err := a.template(ctx, c.caller, d, proc, "schedule")
	if err != nil {
		return nil, err
	}
	if _, err := a.eng.UpdateSchedule(ctx, s.ID, a.engineSpec(c.caller, d, s.Enabled, tmpl)); err != nil {
		return nil, err
	}
	_, err = a.put(ctx, r.Record, d)
	return nil, err
}

// scheduleEnable serves PUT /oapi/v1/schedule/enable and /disable (extension).
func (a *API) scheduleEnable(on bool) handler {
	return func(ctx context.Context, c *call) (any, error) {
		if err := c.caller.require(permSchedule); err != nil {
			return nil, err
		}
		r, s, err := a.scheduleByID(ctx, c)
		if err != nil {
			return nil, err
		}
		var tmpl engine.JobSpec
		if err := json.Unmarshal(s.Template, &tmpl); err != nil {
			return nil, fmt.Errorf("decode schedule template: %w", err)
		}
		if on {
			// Enabling picks up the newest released version when the schedule follows the latest.
			proc, err := facade.GetDocByKey[processDoc](ctx, a.st, c.caller.accountID, recProcess, r.Doc.ProcCode)
			if err != nil {
				return nil, fail(CodeStateConflict, "the schedule's process is gone")
			}
			if tmpl, err = a.template(ctx, c.caller, r.Doc, proc, "schedule"); err != nil {
				return nil, err
			}
		}
		_, err = a.eng.UpdateSchedule(ctx, s.ID, a.engineSpec(c.caller, r.Doc, on, tmpl))
		return nil, err
	}
}

func (a *API) dropSchedule(ctx context.Context, r rec[scheduleDoc]) error {
	if err := a.eng.DeleteSchedule(ctx, r.Doc.ScheduleID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete schedule %d: %w", r.Doc.ScheduleID, err)
	}
	return a.st.DeleteRecord(ctx, r.ID)
}

// scheduleDelete serves DELETE /oapi/v1/schedule {id} (extension).
func (a *API) scheduleDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permSchedule); err != nil {
		return nil, err
	}
	r, _, err := a.scheduleByID(ctx, c)
	if err != nil {
		return nil, err
	}
	return nil, a.dropSchedule(ctx, r)
}

var modeDesc = map[string]string{"0": "定时执行一次", "1": "每分钟", "2": "每小时", "3": "每天", "4": "每周", "5": "每月", "6": "自定义"}

// scheduleList serves GET /oapi/v1/schedule/list.
func (a *API) scheduleList(ctx context.Context, c *call) (any, error) {
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	// A schedule's record is written with it, so the newest record is the newest schedule.
	f := scopeFilter(c.caller.accountID, recSchedule, c.caller.org())
	f.Desc, f.Offset, f.Limit = true, off, lim
	rs, total, err := facade.ListDocsPage[scheduleDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	aliases := a.robotAliases(ctx, c.caller.accountID)
	items := make([]map[string]any, 0, len(rs))
	for _, r := range rs {
		d := r.Doc
		s, err := a.st.GetSchedule(ctx, d.ScheduleID)
		if errors.Is(err, store.ErrNotFound) {
			continue // its delete stopped between the schedule and its record; deleting again clears it
		}
		if err != nil {
			return nil, fmt.Errorf("read schedule %d: %w", d.ScheduleID, err)
		}
		status := 1
		if s.Enabled {
			status = 0
		}
		var procVer any = nilIfEmpty(d.ProcVer)
		var tmpl engine.JobSpec
		if json.Unmarshal(s.Template, &tmpl) == nil {
			var m jobMeta
			if json.Unmarshal(tmpl.Spec, &m) == nil {
				procVer = m.ProcVer
			}
		}
		alias := d.ExecRobotsNo
		if alias != "-all-" {
			var parts []string
			for _, n := range strings.Split(alias, ",") {
				parts = append(parts, firstNonEmpty(aliases[strings.TrimSpace(n)], strings.TrimSpace(n)))
			}
			alias = strings.Join(parts, ",")
		}
		_, jobs, _ := a.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{c.caller.accountID}, Kind: KindJob, Project: d.ProcCode, Limit: 1, WithDeleted: true})
		items = append(items, map[string]any{
			"id": d.ScheduleID, "createTime": a.date(s.CreatedAt), "modifyTime": a.date(s.UpdatedAt),
			"scheduleMode": d.ScheduleMode, "scheduleCommand": d.ScheduleMode, "scheduleTime": d.ScheduleTime,
			"startTime": a.datePtr(s.StartAt), "endTime": a.datePtr(s.EndAt), "scheduleExpre": d.ScheduleExpre,
			"scheduleExpreDesc": modeDesc[d.ScheduleMode], "nextExeTime": msPtr(s.NextRun), "isHolidayExcept": nil,
			"jobType": 1, "status": status, "jobClassPath": "taskcenter.rpa.job", "cloudJob": true,
			"curOrgName": nilIfEmpty(orgs[d.OrgCode].Doc.CurName), "owberUserId": d.OwnerUserID, "owberUser": d.OwnerUser,
			"schName": d.SchName, "procCode": d.ProcCode, "procVer": procVer, "priority": d.Priority, "orgCode": d.OrgCode,
			"execRobotsNo": d.ExecRobotsNo, "execRobotsNames": d.ExecRobotsNo, "execRobotsAlias": alias,
			"schParam": nilIfEmpty(d.SchParam), "runMode": d.RunMode, "pendingTimeout": d.PendingTimeout,
			"runningTimeout": d.RunningTimeout, "handDoMin": 0, "autoStopTime": d.AutoStopTime,
			"failTryTimes": d.FailTryTimes, "schJobNums": jobs, "script": d.Script, "calendarId": nil,
			"developerUser": d.OwnerUser,
		})
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}

// jobLogin serves GET /oapi/v1/token?jobTicket=&unitId=&epoch= (extension): a robot running an
// rpa.job unit trades the schedule's ticket from the unit spec for a token scoped to that run. The
// token dies when the unit stops running with that epoch.
func (a *API) jobLogin(ctx context.Context, p params) (any, error) {
	ticket, err := p.Text("jobTicket", true, 100)
	if err != nil {
		return nil, err
	}
	unitID, err := p.Int("unitId", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	epoch, err := p.Int("epoch", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	u, err := a.st.GetUnit(ctx, unitID)
	if err != nil || u.Status != store.UnitRunning || u.Epoch != epoch || u.Capability != CapabilityRobot {
		return nil, fail(CodeJobTokenInvalid, "")
	}
	var spec JobUnitSpec
	if json.Unmarshal(u.Spec, &spec) != nil || spec.Ticket == "" || subtle.ConstantTimeCompare([]byte(spec.Ticket), []byte(ticket)) != 1 {
		return nil, fail(CodeJobTokenInvalid, "")
	}
	j, err := a.st.GetJob(ctx, u.JobID)
	if err != nil || j.Kind != KindJob {
		return nil, fail(CodeJobTokenInvalid, "")
	}
	var meta jobMeta
	_ = json.Unmarshal(j.Spec, &meta)
	robot := ""
	if w, err := a.st.GetWorker(ctx, u.WorkerID); err == nil {
		robot = w.Name
	}
	now := a.now()
	token := newToken()
	exp := now.Add(jobTokenTTL)
	lab, _ := json.Marshal(tokenLabel{Account: u.AccountID, Job: &jobScope{
		UnitID: u.ID, Epoch: u.Epoch, JobID: u.JobID, WorkerID: u.WorkerID, Robot: robot, ProcCode: spec.ProcCode, OrgCode: meta.OrgCode,
	}})
	if _, err := a.st.CreateCredential(ctx, store.Credential{
		AccountID: u.AccountID, Kind: store.CredRPA, KeyID: tokenKeyID("jt:", token), SecretHash: auth.HashToken(token),
		Label: string(lab), CreatedAt: now, ExpiresAt: &exp,
	}); err != nil {
		return nil, fmt.Errorf("store job token: %w", err)
	}
	return tokenResult{AccessToken: token, TokenType: "job", ExpiresIn: jobTokenTTL.Milliseconds() - 1, Scope: "job"}, nil
}
