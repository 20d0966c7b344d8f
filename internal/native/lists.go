package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Every list answers {"total": N, "<items>": [...]} and takes limit and offset; the filters each
// takes are in api/native.yaml. Lists the store pages (jobs, units, ledger) are paged there; the
// others (workers, accounts, schedules, tokens) are small by nature and are filtered and paged here.

// page cuts items to the page limit and offset select.
func page[T any](items []T, limit, offset int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(len(items), offset+limit)]
}

// contains reports whether s contains q, ignoring case; an empty q matches everything.
func contains(s, q string) bool {
	return q == "" || strings.Contains(strings.ToLower(s), strings.ToLower(q))
}

// accountFilter reads the account_id a list is narrowed to: any account for an admin, only its own
// for anyone else (another account's id lists nothing, as an unknown one does).
func accountFilter(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("account_id")
	if v == "" {
		return 0, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		facade.JSONError(w, http.StatusBadRequest, "account_id must be a positive integer")
		return 0, false
	}
	return id, true
}

func (s *API) handleListJobs(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit, offset, ok := paging(w, r, 50, 1000)
	if !ok {
		return
	}
	acct, ok := accountFilter(w, r)
	if !ok {
		return
	}
	parent, err := queryInt(r, "parent_id", -1, -1, 1<<62)
	if err != nil {
		facade.JSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	// before_id and after_id page by key: a page next to one already shown, as cheap at any depth.
	var keys [2]int
	for i, name := range []string{"before_id", "after_id"} {
		if keys[i], err = queryInt(r, name, 0, 1, 1<<62); err != nil {
			facade.JSONError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	f := store.JobFilter{Kind: q.Get("kind"), Search: q.Get("search"), Project: q.Get("project"), Limit: limit,
		Offset: offset, ParentID: int64(parent), BeforeID: int64(keys[0]), AfterID: int64(keys[1])}
	if parent > 0 {
		f.ParentID, f.ParentIDs = 0, []int64{int64(parent)}
	}
	switch {
	case acct != 0 && !c.owns(acct):
		facade.JSON(w, http.StatusOK, map[string]any{"total": 0, "jobs": []JobView{}})
		return
	case acct != 0:
		f.AccountIDs = []int64{acct}
	case !c.admin():
		f.AccountIDs = []int64{c.account.ID}
	}
	for _, st := range strings.Split(q.Get("status"), ",") {
		if st != "" {
			f.Statuses = append(f.Statuses, store.JobStatus(st))
		}
	}
	if pr := q.Get("pause_reason"); pr != "" {
		f.PauseReasons = strings.Split(pr, ",")
	}
	if f.Search != "" {
		// A search that matches nearly every job would cost a count of them all; past the bound the
		// answer says "more than" instead (total_capped), as GitLab's and GitHub's searches do.
		f.CountUpTo = SearchCountBound
	}
	jobs, total, err := s.cfg.Store.ListJobs(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	counts, err := s.cfg.Store.UnitCounts(r.Context(), ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]JobView, len(jobs))
	for i, j := range jobs {
		out[i] = jobView(j, counts[j.ID])
		out[i].Spec = nil
	}
	answer := map[string]any{"total": total, "jobs": out}
	if f.CountUpTo > 0 && total > f.CountUpTo {
		answer["total"], answer["total_capped"] = f.CountUpTo, true
	}
	facade.JSON(w, http.StatusOK, answer)
}

// SearchCountBound is how many matches of a text search the job list counts at most.
const SearchCountBound = 10000

// maxBulk bounds the jobs one bulk action names.
const maxBulk = 1000

// BulkResult is one job's outcome in a bulk action: its status after it, or why it was refused.
type BulkResult struct {
	ID     int64           `json:"id"`
	Status store.JobStatus `json:"status,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// handleBulk applies one control to many jobs, each on its own: a job the caller may not see, or
// one the action does not fit, is reported and the others go on.
func (s *API) handleBulk(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		IDs      []int64 `json:"ids"`
		Action   string  `json:"action"`
		Priority *int    `json:"priority"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	if len(req.IDs) == 0 || len(req.IDs) > maxBulk {
		facade.JSONError(w, http.StatusBadRequest, fmt.Sprintf("ids must name 1 to %d jobs", maxBulk))
		return
	}
	ctx := r.Context()
	act := map[string]func(id int64) error{
		"pause":          func(id int64) error { return s.cfg.Engine.Pause(ctx, id, engine.PauseUser) },
		"resume":         func(id int64) error { return s.cfg.Engine.Resume(ctx, id) },
		"abort":          func(id int64) error { return s.cfg.Engine.Abort(ctx, id) },
		"restart-failed": func(id int64) error { _, err := s.cfg.Engine.RestartFailed(ctx, id); return err },
		"delete":         func(id int64) error { return s.cfg.Engine.Delete(ctx, id) },
		"priority": func(id int64) error {
			if req.Priority == nil {
				return fmt.Errorf("%w: priority is required", engine.ErrInvalid)
			}
			return s.cfg.Engine.SetPriority(ctx, id, *req.Priority)
		},
	}[req.Action]
	if act == nil {
		facade.JSONError(w, http.StatusBadRequest, "action must be pause, resume, abort, restart-failed, delete or priority")
		return
	}
	out := make([]BulkResult, 0, len(req.IDs))
	for _, id := range req.IDs {
		res := BulkResult{ID: id}
		j, err := s.cfg.Store.GetJob(ctx, id)
		if err == nil && !c.owns(j.AccountID) {
			err = store.ErrNotFound
		}
		if err == nil {
			err = act(id)
		}
		if err == nil {
			j, err = s.cfg.Store.GetJob(ctx, id)
			res.Status = j.Status
		}
		if err != nil {
			res.Error = s.bulkMessage(r, err)
		}
		out = append(out, res)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"results": out})
}

// bulkMessage says why one job of a bulk action was refused, as Fail would for a single one.
func (s *API) bulkMessage(r *http.Request, err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "not found"
	case errors.Is(err, engine.ErrInvalid), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrStale):
		return err.Error()
	}
	facade.Logger(r.Context(), s.log).Error("bulk action failed", "err", err)
	return "internal error"
}

// EventView is a line of a job's history as the native API shows it.
type EventView struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	AccountID int64           `json:"account_id,omitempty"`
	JobID     int64           `json:"job_id,omitempty"`
	UnitID    int64           `json:"unit_id,omitempty"`
	WorkerID  int64           `json:"worker_id,omitempty"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// NewEventView shows an event; the console's live stream sends the same.
func NewEventView(e store.Event) EventView {
	return EventView{ID: e.ID, At: e.At, AccountID: e.AccountID, JobID: e.JobID, UnitID: e.UnitID, WorkerID: e.WorkerID,
		Type: e.Type, Data: e.Data}
}

// handleJobEvents pages a job's history, oldest first: after_id is the last id already read.
func (s *API) handleJobEvents(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	limit, _, ok := paging(w, r, 200, 1000)
	if !ok {
		return
	}
	after, err := queryInt(r, "after_id", 0, 0, 1<<62)
	if err != nil {
		facade.JSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs, err := s.cfg.Store.ListEvents(r.Context(), store.EventFilter{JobID: j.ID, AfterID: int64(after), Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]EventView, len(evs))
	for i, e := range evs {
		out[i] = NewEventView(e)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"events": out, "more": len(evs) == limit})
}

// BlockEntryView is a worker's failure record in a job.
type BlockEntryView struct {
	WorkerID    int64     `json:"worker_id"`
	Failures    int       `json:"failures"`
	Blocked     bool      `json:"blocked"`
	LastFailure time.Time `json:"last_failure"`
}

func (s *API) handleBlocklist(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	bl, err := s.cfg.Engine.Blocklist(r.Context(), j.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]BlockEntryView, len(bl))
	for i, b := range bl {
		out[i] = BlockEntryView{WorkerID: b.WorkerID, Failures: b.Failures, Blocked: b.Blocked, LastFailure: b.LastFailure}
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": len(out), "blocklist": out})
}

// WorkerView is a worker as the native API shows it.
type WorkerView struct {
	ID             int64              `json:"id"`
	AccountID      int64              `json:"account_id,omitempty"`
	Name           string             `json:"name"`
	Kind           string             `json:"kind"`
	Status         store.WorkerStatus `json:"status"`
	Capabilities   []string           `json:"capabilities"`
	Tags           []string           `json:"tags"`
	Info           json.RawMessage    `json:"info,omitempty"`
	Licence        string             `json:"licence,omitempty"`
	LicenceExpires *time.Time         `json:"licence_expires,omitempty"`
	DrainedAt      *time.Time         `json:"drained_at,omitempty"`
	LastHeartbeat  time.Time          `json:"last_heartbeat"`
	CreatedAt      time.Time          `json:"created_at"`
	Incarnation    int64              `json:"incarnation"`
}

// NewWorkerView shows a worker; the console's live stream sends the same.
func NewWorkerView(wk store.Worker) WorkerView {
	v := WorkerView{ID: wk.ID, AccountID: wk.AccountID, Name: wk.Name, Kind: wk.Kind, Status: wk.Status,
		Capabilities: wk.Capabilities, Tags: wk.Tags, Info: wk.Info, Licence: wk.Licence, LicenceExpires: wk.LicenceExpires, DrainedAt: wk.DrainedAt,
		LastHeartbeat: wk.LastHeartbeat, CreatedAt: wk.CreatedAt, Incarnation: wk.Incarnation}
	if v.Capabilities == nil {
		v.Capabilities = []string{}
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	return v
}

// handleListWorkers lists the workers the caller may see (an account's own; an admin every one),
// filtered by kind, status, account_id and a name search.
func (s *API) handleListWorkers(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	acct, ok := accountFilter(w, r)
	if !ok {
		return
	}
	ws, err := s.cfg.Store.ListWorkers(r.Context(), q.Get("kind"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	statuses := strings.Split(q.Get("status"), ",")
	out := []WorkerView{}
	for _, wk := range ws {
		switch {
		case !c.admin() && wk.AccountID != c.account.ID,
			q.Has("account_id") && wk.AccountID != acct,
			q.Get("status") != "" && !slices.Contains(statuses, string(wk.Status)),
			!contains(wk.Name, q.Get("search")):
			continue
		}
		out = append(out, NewWorkerView(wk))
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": len(out), "workers": page(out, limit, offset)})
}

// handleRemoveWorker forgets an offline worker (an online one is drained first by stopping its
// agent: 409). Its units were taken back when it went offline; if it comes back it registers anew.
func (s *API) handleRemoveWorker(w http.ResponseWriter, r *http.Request, c caller) {
	wk, ok := s.worker(w, r, c)
	if !ok {
		return
	}
	if wk.Status != store.WorkerOffline {
		facade.JSONError(w, http.StatusConflict, "the worker is online; stop its agent first")
		return
	}
	if err := s.cfg.Store.DeleteWorker(r.Context(), wk.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleWorkerUnits lists the units a worker holds now (running), of a worker the caller may see.
func (s *API) handleWorkerUnits(w http.ResponseWriter, r *http.Request, c caller) {
	wk, ok := s.worker(w, r, c)
	if !ok {
		return
	}
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	units, total, err := s.cfg.Store.ListUnits(r.Context(), store.UnitFilter{WorkerID: wk.ID, Statuses: []store.UnitStatus{store.UnitRunning},
		Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]UnitView, len(units))
	for i, u := range units {
		out[i] = unitView(u)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": total, "units": out})
}

// handleSetLicence issues (licence set) or revokes (licence empty) a worker's licence: a robot of a
// licensed kind leases nothing without one. Admins only; anyone else gets 404.
func (s *API) handleSetLicence(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.admin() {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	var req struct {
		Licence   string     `json:"licence"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	if len(req.Licence) > 200 {
		facade.JSONError(w, http.StatusBadRequest, "licence is longer than 200 bytes")
		return
	}
	if _, err := s.cfg.Store.GetWorker(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Engine.SetLicence(r.Context(), id, req.Licence, req.ExpiresAt); err != nil {
		s.fail(w, r, err)
		return
	}
	wk, err := s.cfg.Store.GetWorker(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, NewWorkerView(wk))
}

// handleListAccounts lists accounts: every one to an admin (filtered by parent_id and a name search),
// to anyone else its own and its sub-accounts.
func (s *API) handleListAccounts(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	parent, err := queryInt(r, "parent_id", -1, -1, 1<<62)
	if err != nil {
		facade.JSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	as, err := s.cfg.Store.ListAccounts(r.Context(), -1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []AccountView{}
	for _, a := range as {
		switch {
		case !c.seesAccount(a),
			parent >= 0 && a.ParentID != int64(parent),
			!contains(a.Name, q.Get("search")):
			continue
		}
		out = append(out, accountView(a))
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": len(out), "accounts": page(out, limit, offset)})
}

// TokenView is a credential as lists show it: never its secret.
type TokenView struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	KeyID     string     `json:"key_id"`
	Label     string     `json:"label,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// handleListTokens lists an account's credentials of every kind (tokens and dialect keys), without
// their secrets: to the account itself or an admin.
func (s *API) handleListTokens(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.owns(id) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	creds, err := s.cfg.Store.ListCredentials(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	kind := r.URL.Query().Get("kind")
	out := []TokenView{}
	for _, cr := range creds {
		if kind != "" && string(cr.Kind) != kind || cr.Kind == store.CredWorker {
			continue
		}
		out = append(out, TokenView{ID: cr.ID, Kind: string(cr.Kind), KeyID: cr.KeyID, Label: cr.Label,
			CreatedAt: cr.CreatedAt, ExpiresAt: cr.ExpiresAt, RevokedAt: cr.RevokedAt})
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": len(out), "tokens": page(out, limit, offset)})
}

// handleRevokeToken revokes one of an account's credentials by id.
func (s *API) handleRevokeToken(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	tid, err := strconv.ParseInt(r.PathValue("token"), 10, 64)
	if !ok || err != nil || !c.owns(id) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	creds, err := s.cfg.Store.ListCredentials(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(creds, func(cr store.Credential) bool { return cr.ID == tid }) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	if err := s.cfg.Store.RevokeCredential(r.Context(), tid, s.cfg.Engine.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ScheduleView is a schedule as the native API shows it; job is the template of the jobs it makes.
type ScheduleView struct {
	ID        int64           `json:"id"`
	AccountID int64           `json:"account_id"`
	Name      string          `json:"name"`
	Cron      string          `json:"cron"`
	Timezone  string          `json:"timezone,omitempty"`
	Enabled   bool            `json:"enabled"`
	Job       json.RawMessage `json:"job"`
	StartAt   *time.Time      `json:"start_at,omitempty"`
	EndAt     *time.Time      `json:"end_at,omitempty"`
	NextRun   *time.Time      `json:"next_run,omitempty"`
	LastRun   *time.Time      `json:"last_run,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func scheduleView(sc store.Schedule) ScheduleView {
	return ScheduleView{ID: sc.ID, AccountID: sc.AccountID, Name: sc.Name, Cron: sc.Cron, Timezone: sc.Timezone,
		Enabled: sc.Enabled, Job: sc.Template, StartAt: sc.StartAt, EndAt: sc.EndAt, NextRun: sc.NextRun, LastRun: sc.LastRun,
		CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt}
}

// handleListSchedules lists the schedules the caller may see, filtered by account_id, kind (of the
// job made) and a name search.
func (s *API) handleListSchedules(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	acct, ok := accountFilter(w, r)
	if !ok {
		return
	}
	if !c.admin() {
		acct = c.account.ID
		if q.Has("account_id") && q.Get("account_id") != strconv.FormatInt(c.account.ID, 10) {
			acct = -1
		}
	}
	var ss []store.Schedule
	var err error
	if acct >= 0 {
		ss, err = s.cfg.Store.ListSchedules(r.Context(), acct)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []ScheduleView{}
	for _, sc := range ss {
		var tmpl struct {
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(sc.Template, &tmpl) // the engine wrote it; a kind it lacks filters it out
		if !contains(sc.Name, q.Get("search")) || q.Get("kind") != "" && tmpl.Kind != q.Get("kind") {
			continue
		}
		out = append(out, scheduleView(sc))
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": len(out), "schedules": page(out, limit, offset)})
}

// schedule loads a schedule the caller may see, answering 404 for anything else.
func (s *API) schedule(w http.ResponseWriter, r *http.Request, c caller) (store.Schedule, bool) {
	return owned(s, w, r, c, s.cfg.Store.GetSchedule, func(sc store.Schedule) int64 { return sc.AccountID })
}

func (s *API) handleGetSchedule(w http.ResponseWriter, r *http.Request, c caller) {
	if sc, ok := s.schedule(w, r, c); ok {
		facade.JSON(w, http.StatusOK, scheduleView(sc))
	}
}

// scheduleRequest is the body of a schedule's creation or replacement.
type scheduleRequest struct {
	Name     string         `json:"name"`
	Cron     string         `json:"cron"`
	Timezone string         `json:"timezone"`
	Disabled bool           `json:"disabled"`
	StartAt  *time.Time     `json:"start_at"`
	EndAt    *time.Time     `json:"end_at"`
	Job      engine.JobSpec `json:"job"`
}

// spec checks the request against the caller and grants the blobs an admin's template names to the
// account it runs for. A schedule has no transaction to share: granted first, a failed write leaves
// the grant, which gives the account only what the admin meant it to have.
func (s *API) scheduleSpec(w http.ResponseWriter, r *http.Request, c caller, req scheduleRequest) (engine.ScheduleSpec, bool) {
	if req.Job.AccountID == 0 {
		req.Job.AccountID = c.account.ID
	}
	if !c.owns(req.Job.AccountID) {
		facade.JSONError(w, http.StatusNotFound, "account not found")
		return engine.ScheduleSpec{}, false
	}
	hashes, err := namedBlobs(c, req.Job.AccountID, req.Job)
	if err == nil {
		err = grantBlobs(r.Context(), s.cfg.Store, req.Job.AccountID, hashes, s.cfg.Engine.Now())
	}
	if err != nil {
		s.fail(w, r, err)
		return engine.ScheduleSpec{}, false
	}
	return engine.ScheduleSpec{AccountID: req.Job.AccountID, Name: req.Name, Cron: req.Cron, Timezone: req.Timezone,
		Enabled: !req.Disabled, StartAt: req.StartAt, EndAt: req.EndAt, Template: req.Job}, true
}

func (s *API) handleCreateSchedule(w http.ResponseWriter, r *http.Request, c caller) {
	var req scheduleRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	sp, ok := s.scheduleSpec(w, r, c, req)
	if !ok {
		return
	}
	sc, err := s.cfg.Engine.CreateSchedule(r.Context(), sp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, scheduleView(sc))
}

// handlePutSchedule replaces a schedule whole (its account stays); the next run is computed anew.
func (s *API) handlePutSchedule(w http.ResponseWriter, r *http.Request, c caller) {
	old, ok := s.schedule(w, r, c)
	if !ok {
		return
	}
	var req scheduleRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.Job.AccountID == 0 {
		req.Job.AccountID = old.AccountID
	}
	if req.Job.AccountID != old.AccountID {
		facade.JSONError(w, http.StatusBadRequest, "a schedule stays in its account")
		return
	}
	sp, ok := s.scheduleSpec(w, r, c, req)
	if !ok {
		return
	}
	sc, err := s.cfg.Engine.UpdateSchedule(r.Context(), old.ID, sp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, scheduleView(sc))
}

// Overview is the work of the caller's scope at a glance: units by job kind and status, ready units
// by capability, workers by status.
type Overview struct {
	Units      map[string]map[string]int `json:"units"`
	Ready      map[string]int            `json:"ready"`
	Workers    map[string]int            `json:"workers"`
	ComputedAt time.Time                 `json:"computed_at"`
}

// ComputeOverview counts the work of one account (accountID > 0) or of all (0); the console's live
// stream sends the same, computed once for every console watching that scope.
func ComputeOverview(ctx context.Context, st OverviewStore, accountID int64, now time.Time) (Overview, error) {
	o := Overview{Units: map[string]map[string]int{}, Ready: map[string]int{}, Workers: map[string]int{}, ComputedAt: now}
	ts, err := st.TallyUnits(ctx, accountID)
	if err != nil {
		return o, err
	}
	for _, t := range ts {
		if o.Units[t.Kind] == nil {
			o.Units[t.Kind] = map[string]int{}
		}
		o.Units[t.Kind][string(t.Status)] = t.Count
	}
	if accountID == 0 {
		if o.Ready, err = st.QueueDepth(ctx, now); err != nil {
			return o, err
		}
	}
	ws, err := st.ListWorkers(ctx, "")
	if err != nil {
		return o, err
	}
	for _, wk := range ws {
		if accountID == 0 || wk.AccountID == accountID {
			o.Workers[string(wk.Status)]++
		}
	}
	return o, nil
}

func (s *API) handleOverview(w http.ResponseWriter, r *http.Request, c caller) {
	acct := c.account.ID
	if c.admin() {
		acct = 0
	}
	o, err := ComputeOverview(r.Context(), s.cfg.Store, acct, s.cfg.Engine.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, o)
}
