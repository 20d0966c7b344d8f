package render

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Task status codes (the table under 获取任务列表).
const (
	StatusWaiting      = 0
	StatusRendering    = 5
	StatusPreRendering = 8
	StatusStop         = 10
	StatusUserStop     = 15
	StatusArrears      = 20
	StatusTimeoutStop  = 23
	StatusFinished     = 25
	StatusFinishedFail = 30
	StatusAbandon      = 35
	StatusFinishedTest = 40
	StatusFailed       = 45
	StatusAnalyse      = 50
)

// Frame status codes (queryTaskFrames).
const (
	FrameWaiting         = 1
	FrameRunning         = 2
	FrameStopped         = 3
	FrameDone            = 4
	FrameFailed          = 5
	FrameWaitingPriority = 8
	FrameTimedOut        = 11
)

// childStatus maps an engine job to a task status code. counts are the job's units by status: a job
// that ended with frames stopped by the per-frame limit (setOverTimeStop, job_stop_time) is
// TIME_OUT_STOP rather than finished-with-failures, because the limit stopped it.
func childStatus(j store.Job, counts map[store.UnitStatus]int) int {
	if (j.Status == store.JobPartial || j.Status == store.JobFailed) && counts[store.UnitTimedOut] > 0 {
		return StatusTimeoutStop
	}
	switch j.Status {
	case store.JobRunning:
		return StatusRendering
	case store.JobPaused:
		switch engine.ReasonOf(j) {
		case engine.PauseArrears:
			return StatusArrears
		case engine.PauseTimeout:
			return StatusTimeoutStop
		case engine.PauseTest:
			return StatusFinishedTest
		}
		return StatusStop
	case store.JobSucceeded:
		return StatusFinished
	case store.JobPartial:
		return StatusFinishedFail
	case store.JobFailed:
		return StatusFailed
	case store.JobCancelled:
		return StatusAbandon
	}
	return StatusWaiting
}

// shellStatus derives a parent task's status from its state (st, its decoded spec) and its children:
// a stop of any kind wins (arrears, then time-out, then the user's, then the test stop), then
// rendering, then the finished states.
func shellStatus(shell store.Job, st taskState, kids []store.Job, counts map[int64]map[store.UnitStatus]int) int {
	switch {
	case shell.Status == store.JobCancelled:
		return StatusAbandon
	case shell.Status == store.JobPaused && (st.State == stateCreated || st.State == stateAnalysing):
		return StatusStop // stopped before its children exist (stopTask during the analysis)
	case st.State == stateCreated:
		return StatusWaiting
	case st.State == stateAnalysing:
		return StatusAnalyse
	case st.State == stateFailed:
		return StatusFailed
	case len(kids) == 0:
		return StatusWaiting
	}
	has := map[int]int{}
	for _, k := range kids {
		has[childStatus(k, counts[k.ID])]++
	}
	for _, s := range []int{StatusArrears, StatusTimeoutStop, StatusStop} {
		if has[s] > 0 {
			return s
		}
	}
	if has[StatusRendering] > 0 {
		return StatusRendering
	}
	if has[StatusFinishedTest] > 0 {
		if has[StatusWaiting] > 0 {
			return StatusRendering // the test frames are still to render
		}
		return StatusFinishedTest
	}
	if has[StatusWaiting] > 0 {
		if has[StatusWaiting] < len(kids) {
			return StatusRendering // the priority frames are done, the rest waits for a node
		}
		return StatusWaiting
	}
	switch {
	case has[StatusAbandon] > 0:
		return StatusAbandon
	case has[StatusFinished] == len(kids):
		return StatusFinished
	case has[StatusFinished]+has[StatusFinishedFail] > 0:
		return StatusFinishedFail
	}
	return StatusFailed
}

type frameCounts struct{ total, done, failed, running, aborted, waiting int }

func countsOf(m map[store.UnitStatus]int) frameCounts {
	var c frameCounts
	for s, n := range m {
		c.total += n
		switch s {
		case store.UnitDone:
			c.done += n
		case store.UnitFailed, store.UnitTimedOut:
			c.failed += n
		case store.UnitRunning:
			c.running += n
		case store.UnitCancelled:
			c.aborted += n
		default:
			c.waiting += n
		}
	}
	return c
}

func (c *frameCounts) add(o frameCounts) {
	c.total += o.total
	c.done += o.done
	c.failed += o.failed
	c.running += o.running
	c.aborted += o.aborted
	c.waiting += o.waiting
}

// view holds what building task infos needs, loaded with a fixed number of queries per page.
type view struct {
	r      rules
	kids   map[int64][]store.Job
	counts map[int64]map[store.UnitStatus]int
	now    time.Time
	// missingCaps names capabilities no live worker offers, for the reason a task waits.
	missingCaps map[string]bool
	cat         Catalog
	states      map[int64]taskState // decoded specs, by job id
	childs      map[int64]childSpec
	waitReasons map[int]string // by software (cgId): a page's waiting children mostly share one
}

func (a *API) loadView(ctx context.Context, r rules, shells []store.Job) (*view, error) {
	var parents, ids []int64
	for _, s := range shells {
		if s.Kind == KindTask {
			parents = append(parents, s.ID)
		} else {
			ids = append(ids, s.ID)
		}
	}
	kids, err := a.children(ctx, r.visibleAccountIDs, parents, true)
	if err != nil {
		return nil, err
	}
	for _, list := range kids {
		for _, k := range list {
			ids = append(ids, k.ID)
		}
	}
	counts := map[int64]map[store.UnitStatus]int{}
	if len(ids) > 0 {
		if counts, err = a.st.UnitCounts(ctx, ids); err != nil {
			return nil, fmt.Errorf("count frames: %w", err)
		}
	}
	return a.newView(ctx, r, shells, kids, counts)
}

// newView is loadView for shells whose children and frame counts are already read.
func (a *API) newView(ctx context.Context, r rules, shells []store.Job, kids map[int64][]store.Job, counts map[int64]map[store.UnitStatus]int) (*view, error) {
	v := &view{r: r, now: a.eng.Now(), states: map[int64]taskState{}, childs: map[int64]childSpec{}, kids: kids, counts: counts}
	var err error
	if v.cat, err = a.catalog(ctx); err != nil {
		return nil, err
	}
	// Which software no agent offers only explains a waiting child: ask only when one waits.
	waits := false
	for _, list := range kids {
		for _, k := range list {
			waits = waits || k.Status == store.JobQueued || k.Status == store.JobWaiting
		}
	}
	for _, s := range shells {
		waits = waits || (s.Kind == KindRender && (s.Status == store.JobQueued || s.Status == store.JobWaiting))
	}
	v.missingCaps = map[string]bool{}
	if waits {
		if v.missingCaps, err = a.missingCapabilities(ctx, v.cat); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// missingCapabilities lists the catalog's capabilities that no online worker offers. The answer
// only explains why a task waits, so this process reuses it for readTTL rather than listing the
// workers on every task query.
func (a *API) missingCapabilities(ctx context.Context, cat Catalog) (map[string]bool, error) {
	now := a.eng.Now()
	if m, ok := a.missing.get(now); ok {
		return m, nil
	}
	workers, err := a.st.ListWorkers(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	have := map[string]bool{}
	for _, w := range workers {
		if w.Status != store.WorkerOffline {
			for _, c := range w.Capabilities {
				have[c] = true
			}
		}
	}
	out := map[string]bool{}
	for _, s := range cat.Software {
		if !have[s.Capability] {
			out[s.Capability] = true
		}
	}
	a.missing.set(out, now)
	return out, nil
}

func statusText(code int) string { return "render_task_status_" + strconv.Itoa(code) }

// taskInfo is the document's TaskInfo, every field of its examples. Fields the document shows as
// null in some states are any (nil, or the value).
type taskInfo struct {
	SceneName          string      `json:"sceneName"`
	ID                 int64       `json:"id"`
	TaskAlias          string      `json:"taskAlias"`
	TaskStatus         int         `json:"taskStatus"`
	StatusText         string      `json:"statusText"`
	PreTaskStatus      any         `json:"preTaskStatus"`
	PreStatusText      any         `json:"preStatusText"`
	TotalFrames        int         `json:"totalFrames"`
	AbortFrames        int         `json:"abortFrames"`
	ExecutingFrames    int         `json:"executingFrames"`
	DoneFrames         int         `json:"doneFrames"`
	FailedFrames       int         `json:"failedFrames"`
	WaitingFrames      int         `json:"waitingFrames"`
	FramesRange        string      `json:"framesRange"`
	ProjectName        string      `json:"projectName"`
	RenderConsume      float64     `json:"renderConsume"`
	TaskArrears        float64     `json:"taskArrears"`
	SubmitDate         int64       `json:"submitDate"`
	StartTime          any         `json:"startTime"`
	CompletedDate      any         `json:"completedDate"`
	RenderDuration     any         `json:"renderDuration"`
	UserName           string      `json:"userName"`
	Producer           any         `json:"producer"`
	TaskLevel          int         `json:"taskLevel"`
	TaskUserLevel      int         `json:"taskUserLevel"`
	TaskLimit          any         `json:"taskLimit"`
	TaskOverTime       any         `json:"taskOverTime"`
	UserID             int64       `json:"userId"`
	OutputFileName     any         `json:"outputFileName"`
	MunuTaskID         string      `json:"munuTaskId"`
	LayerParentID      int64       `json:"layerParentId"`
	CgID               int         `json:"cgId"`
	TaskKeyValueVo     taskKeyVals `json:"taskKeyValueVo"`
	UserAccountConsume float64     `json:"userAccountConsume"`
	CouponConsume      float64     `json:"couponConsume"`
	IsOpen             int         `json:"isOpen"`
	TaskType           string      `json:"taskType"`
	RenderCamera       any         `json:"renderCamera"`
	CloneParentID      any         `json:"cloneParentId"`
	CloneOriginalID    any         `json:"cloneOriginalId"`
	ShareMainCapital   int         `json:"shareMainCapital"`
	TaskRAM            any         `json:"taskRam"`
	// RespRenderingTaskList holds a parent's children; null for a child.
	RespRenderingTaskList []taskInfo `json:"respRenderingTaskList"`
	LayerName             any        `json:"layerName"`
	TaskTypeText          any        `json:"taskTypeText"`
	IsDelete              int        `json:"isDelete"`
	// StatusInfo is beyond the document: why a task waits or failed, in words.
	StatusInfo string `json:"statusInfo"`
}

type taskKeyVals struct {
	Tiles            any `json:"tiles"`
	AllCamera        any `json:"allCamera"`
	RenderableCamera any `json:"renderableCamera"`
}

// state is a job's decoded taskState, decoded once per view: a page asks for each parent's state
// once for itself and once per child.
func (v *view) state(j store.Job) taskState { return decodedOnce(v.states, j, stateOf) }

// child is a child job's decoded childSpec, decoded once per view.
func (v *view) child(j store.Job) childSpec { return decodedOnce(v.childs, j, childOf) }

// decodedOnce returns m[j.ID], decoding j with decode the first time.
func decodedOnce[T any](m map[int64]T, j store.Job, decode func(store.Job) T) T {
	if s, ok := m[j.ID]; ok {
		return s
	}
	s := decode(j)
	m[j.ID] = s
	return s
}

// info builds one TaskInfo with every field of the document's examples.
func (a *API) info(v *view, j store.Job, shell *store.Job) taskInfo {
	isShell := j.Kind == KindTask
	var st taskState
	if shell != nil {
		st = v.state(*shell)
	} else {
		st = v.state(j)
	}
	var status int
	var fc frameCounts
	var split chargeSplit
	var cost int64
	var started, finished *time.Time
	var kidsInfo []taskInfo
	var cs childSpec
	reason := ""
	if isShell {
		kids := v.kids[j.ID]
		status = shellStatus(j, st, kids, v.counts)
		if len(kids) > 0 {
			kidsInfo = make([]taskInfo, 0, len(kids))
		}
		for i := range kids {
			k := kids[i]
			fc.add(countsOf(v.counts[k.ID]))
			s := splitOf(k)
			split.CouponMilli += s.CouponMilli
			split.BalanceMilli += s.BalanceMilli
			split.UnpaidMilli += s.UnpaidMilli
			cost += k.CostMilli
			if k.StartedAt != nil && (started == nil || k.StartedAt.Before(*started)) {
				started = k.StartedAt
			}
			if k.FinishedAt != nil && (finished == nil || k.FinishedAt.After(*finished)) {
				finished = k.FinishedAt
			}
			kidsInfo = append(kidsInfo, a.info(v, k, &j))
			if r := a.waitReason(v, k); r != "" {
				reason = r
			}
		}
		if status != StatusFinished && status != StatusFinishedFail && status != StatusAbandon && status != StatusFailed {
			finished = nil
		}
		if st.State == stateFailed {
			reason = st.ErrorCode + ": " + st.Error
		}
	} else {
		status = childStatus(j, v.counts[j.ID])
		fc = countsOf(v.counts[j.ID])
		split = splitOf(j)
		cost = j.CostMilli
		started, finished = j.StartedAt, j.FinishedAt
		cs = v.child(j)
		reason = a.waitReason(v, j)
	}
	out := taskInfo{
		SceneName: j.Name, ID: j.ID, TaskAlias: alias(st.Platform, j.ID),
		TaskStatus: status, StatusText: statusText(status),
		TotalFrames: fc.total, AbortFrames: fc.aborted, ExecutingFrames: fc.running,
		DoneFrames: fc.done, FailedFrames: fc.failed, WaitingFrames: fc.waiting, FramesRange: st.Frames,
		ProjectName: j.Project, RenderConsume: money(cost), TaskArrears: money(split.UnpaidMilli),
		SubmitDate: j.CreatedAt.UnixMilli(), StartTime: ms(started), CompletedDate: ms(finished),
		UserName: v.r.names[j.AccountID], TaskLevel: j.Priority, TaskUserLevel: st.TaskUserLevel,
		UserID: j.AccountID, MunuTaskID: strconv.FormatInt(j.ID, 10), LayerParentID: j.ParentID, CgID: st.CgID,
		UserAccountConsume: money(split.BalanceMilli), CouponConsume: money(split.CouponMilli),
		RespRenderingTaskList: kidsInfo, IsDelete: 1, StatusInfo: reason,
	}
	if started != nil {
		end := v.now
		if finished != nil {
			end = *finished
		}
		out.RenderDuration = int64(end.Sub(*started) / time.Second)
	}
	if j.MaxConcurrency > 0 {
		out.TaskLimit = j.MaxConcurrency
	}
	if !isShell {
		out.CloneParentID, out.CloneOriginalID = 0, 0
		if j.UnitTimeout > 0 {
			out.TaskOverTime = j.UnitTimeout.Milliseconds()
		}
		out.TaskType = cs.TaskType
		switch cs.TaskType {
		case "Render":
			out.TaskTypeText = "render_major_picture_task"
		case "RenderPriority":
			out.TaskTypeText = "render_priority_task"
		}
		if cs.Frames != "" {
			out.FramesRange = cs.Frames
		}
	}
	if out.FramesRange == "" {
		out.FramesRange = "0"
	}
	if st.Tiles > 0 {
		out.TaskKeyValueVo.Tiles = strconv.Itoa(st.Tiles)
	}
	if len(st.AllCameras) > 0 {
		out.TaskKeyValueVo.AllCamera = strings.Join(st.AllCameras, ",")
	}
	if st.Camera != "" {
		out.TaskKeyValueVo.RenderableCamera = st.Camera
		out.RenderCamera = st.Camera
	}
	if isShell {
		out.IsOpen = 1
		// The analysis is the "preprocessing" of this farm: done once the children exist.
		switch st.State {
		case stateSubmitted:
			out.PreTaskStatus, out.PreStatusText = StatusFinished, statusText(StatusFinished)
		case stateAnalysing:
			out.PreTaskStatus, out.PreStatusText = StatusAnalyse, statusText(StatusAnalyse)
		case stateFailed:
			out.PreTaskStatus, out.PreStatusText = StatusFailed, statusText(StatusFailed)
		}
	}
	if j.Deleted {
		out.IsDelete = 0
	}
	if v.r.shareMainCapital && j.AccountID != v.r.main.ID {
		out.ShareMainCapital = 1
	}
	if st.Producer != "" {
		out.Producer = st.Producer
	}
	if !isShell && st.OutputFileName != "" {
		out.OutputFileName = fmt.Sprintf("%d_%s", j.ID, strings.TrimPrefix(st.OutputFileName, fmt.Sprintf("%d_", j.ParentID)))
	}
	if st.Ram > 0 {
		out.TaskRAM = st.Ram
	}
	return out
}

// waitReason explains a child that waits because no agent offers its software.
func (a *API) waitReason(v *view, j store.Job) string {
	if j.Status != store.JobQueued && j.Status != store.JobWaiting {
		return ""
	}
	cs := v.child(j)
	if r, ok := v.waitReasons[cs.CgID]; ok {
		return r
	}
	r := ""
	if s, ok := v.cat.software(cs.CgID); ok && v.missingCaps[s.Capability] {
		r = fmt.Sprintf("waiting: no render node offers %s (capability %q)", s.CgName, s.Capability)
	}
	if v.waitReasons == nil {
		v.waitReasons = map[int]string{}
	}
	v.waitReasons[cs.CgID] = r
	return r
}

// pageOf is the document's paging object.
type pageOf[T any] struct {
	PageCount int `json:"pageCount"`
	PageNum   int `json:"pageNum"`
	Total     int `json:"total"`
	Size      int `json:"size"`
	Items     []T `json:"items"`
}

// page answers the document's paging object; no items is an empty list, not null.
func page[T any](items []T, total, pageNum, pageSize int) pageOf[T] {
	if items == nil {
		items = []T{}
	}
	pages := 0
	if pageSize > 0 {
		pages = (total + pageSize - 1) / pageSize
	}
	return pageOf[T]{PageCount: pages, PageNum: pageNum, Total: total, Size: pageSize, Items: items}
}

// maxPageOffset is past any row a list can hold: a page beyond it is empty like any page past the end.
const maxPageOffset = 1 << 53

// paging reads pageNum and pageSize and returns them with the offset of the page's first row. The
// offset saturates instead of overflowing: pageNum 2^62 is an empty page, not (wrapped) the first.
func (c *call) paging(def int) (num, size, offset int, err error) {
	n, err := c.p.int("pageNum", false, 1)
	if err != nil {
		return 0, 0, 0, err
	}
	sz, err := c.p.int("pageSize", false, int64(def))
	if err != nil {
		return 0, 0, 0, err
	}
	if n < 1 || sz < 1 || sz > 1000 {
		return 0, 0, 0, invalid("pageNum must be at least 1 and pageSize between 1 and 1000")
	}
	offset = maxPageOffset
	if n-1 < maxPageOffset/sz {
		offset = int((n - 1) * sz)
	}
	return int(n), int(sz), offset, nil
}

func (a *API) getTaskList(ctx context.Context, c *call) (any, error) {
	num, size, offset, err := c.paging(10)
	if err != nil {
		return nil, err
	}
	statuses, err := c.p.ints("statusList", false)
	if err != nil {
		return nil, err
	}
	keyword, err := c.p.str("searchKeyword", false)
	if err != nil {
		return nil, err
	}
	project, err := c.p.str(c.p.first("projectName", "labelName"), false)
	if err != nil {
		return nil, err
	}
	f := store.JobFilter{Kind: KindTask, ParentID: -1, Search: strings.TrimSpace(keyword), Project: project}
	for _, name := range []string{"startTime", "endTime"} {
		v, err := c.p.int(name, false, 0)
		if err != nil {
			return nil, err
		}
		if v > 0 {
			t := time.UnixMilli(v)
			if v < 1e11 { // seconds, not milliseconds
				t = time.Unix(v, 0)
			}
			if name == "startTime" {
				f.CreatedFrom = &t
			} else {
				f.CreatedTo = &t
			}
		}
	}
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return nil, err
	}
	f.AccountIDs = r.visibleAccountIDs
	if len(statuses) == 0 {
		// The common list: the page read with its children and their frame counts (ListJobTrees).
		f.Limit, f.Offset = size, offset
		tr, err := a.st.ListJobTrees(ctx, f, KindRender)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		for parent, list := range tr.Children {
			tr.Children[parent] = slices.DeleteFunc(list, func(k store.Job) bool { return !slices.Contains(r.visibleAccountIDs, k.AccountID) })
		}
		v, err := a.newView(ctx, r, tr.Jobs, tr.Children, tr.UnitCounts)
		if err != nil {
			return nil, err
		}
		return page(a.infos(v, tr.Jobs), tr.Total, num, size), nil
	}
	shells, _, err := a.st.ListJobs(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	// Status is derived from the children, so the filter runs here: statuses of every matching task
	// first (its children, and frame counts only where the status needs them), then the full infos of
	// the page alone.
	if shells, err = a.filterStatus(ctx, r, shells, statuses); err != nil {
		return nil, err
	}
	total := len(shells)
	lo := min(offset, total)
	shells = shells[lo:min(lo+size, total)]
	v, err := a.loadView(ctx, r, shells)
	if err != nil {
		return nil, err
	}
	return page(a.infos(v, shells), total, num, size), nil
}

// infos builds the task infos of top-level tasks.
func (a *API) infos(v *view, shells []store.Job) []taskInfo {
	items := make([]taskInfo, 0, len(shells))
	for _, s := range shells {
		items = append(items, a.info(v, s, nil))
	}
	return items
}

// filterStatus keeps the shells whose derived status is one of statuses, in order.
func (a *API) filterStatus(ctx context.Context, r rules, shells []store.Job, statuses []int64) ([]store.Job, error) {
	ids := make([]int64, len(shells))
	for i, s := range shells {
		ids[i] = s.ID
	}
	kids, err := a.children(ctx, r.visibleAccountIDs, ids, true)
	if err != nil {
		return nil, err
	}
	// Frame counts change a status only for children that ended partial or failed (TIME_OUT_STOP).
	var ended []int64
	for _, list := range kids {
		for _, k := range list {
			if k.Status == store.JobPartial || k.Status == store.JobFailed {
				ended = append(ended, k.ID)
			}
		}
	}
	counts := map[int64]map[store.UnitStatus]int{}
	if len(ended) > 0 {
		if counts, err = a.st.UnitCounts(ctx, ended); err != nil {
			return nil, fmt.Errorf("count frames: %w", err)
		}
	}
	out := shells[:0:0]
	for _, s := range shells {
		if slices.Contains(statuses, int64(shellStatus(s, stateOf(s), kids[s.ID], counts))) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (a *API) queryTaskInfo(ctx context.Context, c *call) (any, error) {
	ids, err := c.p.taskIDs(true)
	if err != nil {
		return nil, err
	}
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return nil, err
	}
	var jobs []store.Job
	for _, id := range ids {
		j, _, err := a.ownJob(ctx, c, id)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	v, err := a.loadView(ctx, r, jobs)
	if err != nil {
		return nil, err
	}
	items := make([]taskInfo, 0, len(jobs))
	for _, j := range jobs {
		var shell *store.Job
		if j.Kind == KindRender {
			p, err := a.st.GetJob(ctx, j.ParentID)
			if err != nil {
				return nil, fmt.Errorf("load parent of task %d: %w", j.ID, err)
			}
			shell = &p
		}
		items = append(items, a.info(v, j, shell))
	}
	return page(items, len(items), 1, max(len(items), 100)), nil
}

// frameJobs resolves a task id to the child jobs whose units are its frames.
func (a *API) frameJobs(ctx context.Context, c *call, id int64) ([]store.Job, error) {
	_, kids, err := a.targets(ctx, c, []int64{id})
	return kids, err
}

func frameStatus(u store.Unit) int {
	switch u.Status {
	case store.UnitRunning:
		return FrameRunning
	case store.UnitPaused, store.UnitCancelled:
		return FrameStopped
	case store.UnitDone:
		return FrameDone
	case store.UnitFailed:
		return FrameFailed
	case store.UnitTimedOut:
		return FrameTimedOut
	case store.UnitBlocked:
		return FrameWaitingPriority
	}
	return FrameWaiting
}

// unitSeconds is the node time a unit took (or takes so far).
func unitSeconds(u store.Unit, now time.Time) int64 {
	if u.StartedAt == nil {
		return 0
	}
	end := now
	if u.FinishedAt != nil {
		end = *u.FinishedAt
	}
	return int64(end.Sub(*u.StartedAt) / time.Second)
}

// pageFees returns the fee split of the units of a page: the units of every job whose charges were
// paid by more than the balance are read in full (frameFees needs the running total), the others pay
// all from the balance and need nothing more.
func (a *API) pageFees(ctx context.Context, units []store.Unit, jobs map[int64]store.Job) (map[int64]frameFee, error) {
	out := make(map[int64]frameFee, len(units))
	split := map[int64]bool{}
	for _, u := range units {
		s := splitOf(jobs[u.JobID])
		if s.CouponMilli == 0 && s.UnpaidMilli == 0 {
			out[u.ID] = frameFee{balance: u.CostMilli}
			continue
		}
		if split[u.JobID] {
			continue
		}
		split[u.JobID] = true
		all, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: u.JobID})
		if err != nil {
			return nil, fmt.Errorf("list frames of task %d: %w", u.JobID, err)
		}
		maps.Copy(out, frameFees(all, s))
	}
	return out, nil
}

func (a *API) queryTaskFrames(ctx context.Context, c *call) (any, error) {
	id, err := c.p.int(c.p.first("taskId", "taskIds"), true, 0)
	if err != nil {
		return nil, err
	}
	num, size, offset, err := c.paging(20)
	if err != nil {
		return nil, err
	}
	keyword, err := c.p.str("searchKeyword", false)
	if err != nil {
		return nil, err
	}
	kids, err := a.frameJobs(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if len(kids) == 0 {
		return page[map[string]any](nil, 0, num, size), nil
	}
	byID := map[int64]store.Job{}
	ids := make([]int64, 0, len(kids))
	for _, k := range kids {
		byID[k.ID] = k
		ids = append(ids, k.ID)
	}
	units, total, err := a.st.ListUnits(ctx, store.UnitFilter{JobIDs: ids, Search: strings.TrimSpace(keyword), Limit: size, Offset: offset})
	if err != nil {
		return nil, fmt.Errorf("list frames: %w", err)
	}
	fees, err := a.pageFees(ctx, units, byID)
	if err != nil {
		return nil, err
	}
	now := a.eng.Now()
	items := make([]map[string]any, 0, len(units))
	for _, u := range units {
		j := byID[u.JobID]
		items = append(items, a.frameInfo(u, j, fees[u.ID], now))
	}
	return page(items, total, num, size), nil
}

func (a *API) frameInfo(u store.Unit, j store.Job, fee frameFee, now time.Time) map[string]any {
	cs := childOf(j)
	block := "1"
	if _, b, ok := strings.Cut(u.Name, "-"); ok && cs.Tiles > 1 {
		block = b
	}
	var overTime any
	if j.UnitTimeout > 0 {
		overTime = j.UnitTimeout.Milliseconds()
	}
	recommit := max(u.Attempts-1, 0)
	st := frameStatus(u)
	return map[string]any{
		"id": u.ID, "userId": u.AccountID, "framePrice": nil, "feeType": 0, "platform": nil,
		"frameIndex": u.Name, "frameBlock": block, "frameStatus": st, "feeAmount": money(fee.balance), "couponFee": money(fee.coupon),
		"startTime": ms(u.StartedAt), "endTime": ms(u.FinishedAt), "frameExecuteTime": unitSeconds(u, now),
		"frameStatusText": "task_frame_status_" + strconv.Itoa(st), "arrearsFee": money(fee.arrears),
		"munuJobId": strconv.Itoa(u.Index), "taskId": u.JobID, "munuTaskId": strconv.FormatInt(u.JobID, 10),
		"frameType": cs.FrameType, "recommitFlag": recommit, "isCopy": nil, "taskOverTime": overTime,
		"gopName": nil, "frameRam": nil, "framePercent": u.Progress, "errorInfo": u.Error,
	}
}

func (a *API) queryAllFrameStats(ctx context.Context, c *call) (any, error) {
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return nil, err
	}
	kids, _, err := a.st.ListJobs(ctx, store.JobFilter{AccountIDs: r.visibleAccountIDs, Kind: KindRender})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var fc frameCounts
	if len(kids) > 0 {
		ids := make([]int64, len(kids))
		for i, k := range kids {
			ids[i] = k.ID
		}
		counts, err := a.st.UnitCounts(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("count frames: %w", err)
		}
		for _, m := range counts {
			fc.add(countsOf(m))
		}
	}
	return map[string]any{"executingFramesTotal": fc.running, "doneFramesTotal": fc.done,
		"failedFramesTotal": fc.failed, "waitingFramesTotal": fc.waiting, "totalFrames": fc.total}, nil
}
