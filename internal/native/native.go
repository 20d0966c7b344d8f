// Package native is taskcenter's own API (api/native.yaml), used by the CLI and the console: jobs,
// units, workers, accounts, limits, tokens, dialect keys and settings, schedules and blobs. It is a
// facade like the dialects, built on internal/facade's plain dialect, and internal/server mounts it.
package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// A token of kind admin authenticates; an admin account's token acts on every account, a user
// account's on its own (another account's job answers 404).

// Mount registers the native API's routes on mux.
func (s *API) Mount(mux *http.ServeMux) {
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request, caller)) {
		mux.HandleFunc(pattern, s.withCaller(fn))
	}
	h("GET /api/v1/whoami", s.handleWhoami)
	h("GET /api/v1/jobs", s.handleListJobs)
	h("POST /api/v1/jobs", s.handleSubmit)
	h("GET /api/v1/jobs/{id}", s.handleGetJob)
	h("PATCH /api/v1/jobs/{id}", s.handlePatchJob)
	h("DELETE /api/v1/jobs/{id}", s.handleDeleteJob)
	h("POST /api/v1/jobs/{id}/{action}", s.handleJobAction)
	h("GET /api/v1/jobs/{id}/units", s.handleListUnits)
	h("GET /api/v1/jobs/{id}/events", s.handleJobEvents)
	h("GET /api/v1/jobs/{id}/blocklist", s.handleBlocklist)
	h("DELETE /api/v1/jobs/{id}/blocklist", s.handleClearBlocklist)
	h("POST /api/v1/jobs/bulk", s.handleBulk)
	h("GET /api/v1/workers", s.handleListWorkers)
	h("DELETE /api/v1/workers/{id}", s.handleRemoveWorker)
	h("GET /api/v1/workers/{id}/units", s.handleWorkerUnits)
	h("PUT /api/v1/workers/{id}/licence", s.handleSetLicence)
	h("POST /api/v1/workers/{id}/drain", s.handleDrainWorker(true))
	h("POST /api/v1/workers/{id}/undrain", s.handleDrainWorker(false))
	h("GET /api/v1/overview", s.handleOverview)
	h("GET /api/v1/accounts", s.handleListAccounts)
	h("POST /api/v1/accounts", s.handleCreateAccount)
	h("POST /api/v1/accounts/{id}/funds", s.handleFunds)
	h("GET /api/v1/accounts/{id}/ledger", s.handleLedger)
	h("GET /api/v1/accounts/{id}/limits", s.handleGetLimits)
	h("PATCH /api/v1/accounts/{id}/limits", s.handleSetLimits)
	h("GET /api/v1/accounts/{id}/tokens", s.handleListTokens)
	h("POST /api/v1/accounts/{id}/tokens", s.handleIssueToken)
	h("DELETE /api/v1/accounts/{id}/tokens/{token}", s.handleRevokeToken)
	h("POST /api/v1/accounts/{id}/keys", s.handleIssueKey)
	h("GET /api/v1/accounts/{id}/settings/{name}", s.handleAccountSetting)
	h("PATCH /api/v1/accounts/{id}/settings/{name}", s.handleAccountSetting)
	h("GET /api/v1/settings/{name}", s.handleGetSetting)
	h("PUT /api/v1/settings/{name}", s.handlePutSetting)
	h("GET /api/v1/schedules", s.handleListSchedules)
	h("POST /api/v1/schedules", s.handleCreateSchedule)
	h("GET /api/v1/schedules/{id}", s.handleGetSchedule)
	h("PUT /api/v1/schedules/{id}", s.handlePutSchedule)
	h("DELETE /api/v1/schedules/{id}", s.handleDeleteSchedule)
	h("GET /api/v1/collections", s.handleCollections)
	h("GET /api/v1/collections/{name}", s.handleCollection)
	h("POST /api/v1/blobs", s.handlePutBlob)
	h("GET /api/v1/blobs/{hash}", s.handleGetBlob)
}

type caller struct {
	account store.Account
}

func (c caller) admin() bool { return c.account.Role == store.RoleAdmin }

// owns reports whether the caller may act on something of accountID.
func (c caller) owns(accountID int64) bool { return c.admin() || accountID == c.account.ID }

// seesAccount reports whether the caller may read the account: its own, a sub-account of it, or any
// to an admin (what the accounts list shows and the ledger route serves).
func (c caller) seesAccount(a store.Account) bool {
	return c.owns(a.ID) || a.ParentID != 0 && a.ParentID == c.account.ID
}

func (s *API) withCaller(fn func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := facade.Bearer(r)
		var err error
		if token == "" && s.sessions != nil {
			token, err = s.sessions.SessionToken(r)
		}
		var cred store.Credential
		if err == nil {
			cred, err = auth.VerifyToken(r.Context(), s.cfg.Store, store.CredAdmin, token, s.cfg.Engine.Now())
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		a, err := s.cfg.Store.GetAccount(r.Context(), cred.AccountID)
		if err != nil {
			s.fail(w, r, auth.ErrUnauthorized)
			return
		}
		fn(w, r, caller{account: a})
	}
}

// maxJSONBytes bounds a native API request body.
const maxJSONBytes = 64 << 20

func (s *API) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	// A declared length over the limit is refused before a byte is read; a body without one is cut
	// off by MaxBytesReader at the limit.
	if r.ContentLength > maxJSONBytes {
		facade.JSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxJSONBytes))
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			facade.JSONError(w, http.StatusRequestEntityTooLarge, "request body too large")
		} else {
			facade.JSONError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		}
		return false
	}
	return true
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// owned loads the object the path's id names with get, if the caller may see it (account names its
// account), answering 404 for anything else: a bad id, a missing object and another account's alike.
func owned[T any](s *API, w http.ResponseWriter, r *http.Request, c caller,
	get func(context.Context, int64) (T, error), account func(T) int64) (T, bool) {
	var none T
	id, ok := pathID(r)
	if !ok {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return none, false
	}
	v, err := get(r.Context(), id)
	if err == nil && !c.owns(account(v)) {
		err = store.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return none, false
	}
	return v, true
}

// job loads a job the caller may see, answering 404 for anything else.
func (s *API) job(w http.ResponseWriter, r *http.Request, c caller) (store.Job, bool) {
	return owned(s, w, r, c, s.cfg.Store.GetJob, func(j store.Job) int64 { return j.AccountID })
}

// worker loads a worker the caller may see, answering 404 for anything else.
func (s *API) worker(w http.ResponseWriter, r *http.Request, c caller) (store.Worker, bool) {
	return owned(s, w, r, c, s.cfg.Store.GetWorker, func(wk store.Worker) int64 { return wk.AccountID })
}

// JobView is a job as the native API shows it.
type JobView struct {
	ID             int64            `json:"id"`
	AccountID      int64            `json:"account_id"`
	ParentID       int64            `json:"parent_id,omitempty"`
	WaitFor        int64            `json:"wait_for,omitempty"`
	Alias          string           `json:"alias,omitempty"`
	Kind           string           `json:"kind"`
	Name           string           `json:"name,omitempty"`
	Project        string           `json:"project,omitempty"`
	Status         store.JobStatus  `json:"status"`
	PauseReason    string           `json:"pause_reason,omitempty"`
	Priority       int              `json:"priority"`
	MaxConcurrency int              `json:"max_concurrency"`
	MaxAttempts    int              `json:"max_attempts"`
	Units          map[string]int   `json:"units,omitempty"`
	Spec           json.RawMessage  `json:"spec,omitempty"`
	Result         json.RawMessage  `json:"result,omitempty"`
	CostMilli      int64            `json:"cost_milli"`
	CreatedAt      time.Time        `json:"created_at"`
	StartedAt      *time.Time       `json:"started_at,omitempty"`
	FinishedAt     *time.Time       `json:"finished_at,omitempty"`
	Timeouts       map[string]int64 `json:"timeouts_seconds,omitempty"`
}

func jobView(j store.Job, counts map[store.UnitStatus]int) JobView {
	v := JobView{
		ID: j.ID, AccountID: j.AccountID, ParentID: j.ParentID, WaitFor: j.WaitFor, Alias: j.Alias, Kind: j.Kind,
		Name: j.Name, Project: j.Project, Status: j.Status, PauseReason: j.PauseReason, Priority: j.Priority,
		MaxConcurrency: j.MaxConcurrency, MaxAttempts: j.MaxAttempts, Spec: j.Spec, Result: j.Result,
		CostMilli: j.CostMilli, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
	}
	if len(counts) > 0 {
		v.Units = map[string]int{}
		for st, n := range counts {
			v.Units[string(st)] = n
		}
	}
	if j.UnitTimeout > 0 || j.JobTimeout > 0 {
		v.Timeouts = map[string]int64{"unit": int64(j.UnitTimeout / time.Second), "job": int64(j.JobTimeout / time.Second)}
	}
	return v
}

func (s *API) handleWhoami(w http.ResponseWriter, r *http.Request, c caller) {
	facade.JSON(w, http.StatusOK, accountView(c.account))
}

// paging reads a list's limit (default def, at most maxLimit) and offset, answering 400 itself when
// either is out of range.
func paging(w http.ResponseWriter, r *http.Request, def, maxLimit int) (limit, offset int, ok bool) {
	limit, err := queryInt(r, "limit", def, 1, maxLimit)
	if err == nil {
		offset, err = queryInt(r, "offset", 0, 0, 1<<30)
	}
	if err != nil {
		facade.JSONError(w, http.StatusBadRequest, err.Error())
		return 0, 0, false
	}
	return limit, offset, true
}

func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be an integer between %d and %d", name, lo, hi)
	}
	return n, nil
}

func (s *API) handleSubmit(w http.ResponseWriter, r *http.Request, c caller) {
	var spec engine.JobSpec
	if !s.readJSON(w, r, &spec) {
		return
	}
	if spec.AccountID == 0 {
		spec.AccountID = c.account.ID
	}
	if !c.owns(spec.AccountID) {
		facade.JSONError(w, http.StatusNotFound, "account not found")
		return
	}
	if spec.ParentID != 0 || spec.WaitFor != 0 {
		for _, id := range []int64{spec.ParentID, spec.WaitFor} {
			if id == 0 {
				continue
			}
			if j, err := s.cfg.Store.GetJob(r.Context(), id); err != nil || j.AccountID != spec.AccountID {
				facade.JSONError(w, http.StatusBadRequest, fmt.Sprintf("job %d not found in this account", id))
				return
			}
		}
	}
	hashes, err := namedBlobs(c, spec.AccountID, spec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Granted in the job's transaction: no unit of it is leased without its inputs, and a submission
	// that fails grants nothing.
	j, err := s.cfg.Engine.SubmitWith(r.Context(), spec, func(tx engine.Tx, _ store.Job) error {
		return grantBlobs(r.Context(), tx.BlobRefs(), spec.AccountID, hashes, s.cfg.Engine.Now())
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, jobView(j, nil))
}

func (s *API) handleGetJob(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	counts, err := s.cfg.Store.UnitCounts(r.Context(), []int64{j.ID})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, jobView(j, counts[j.ID]))
}

func (s *API) handlePatchJob(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	var req struct {
		Priority       *int `json:"priority"`
		MaxConcurrency *int `json:"max_concurrency"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	ctx := r.Context()
	if req.Priority != nil {
		if err := s.cfg.Engine.SetPriority(ctx, j.ID, *req.Priority); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if req.MaxConcurrency != nil {
		if err := s.cfg.Engine.SetConcurrency(ctx, j.ID, *req.MaxConcurrency); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.handleGetJob(w, r, c)
}

func (s *API) handleDeleteJob(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	if err := s.cfg.Engine.Delete(r.Context(), j.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *API) handleJobAction(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	ctx := r.Context()
	var err error
	var n int
	switch r.PathValue("action") {
	case "pause":
		err = s.cfg.Engine.Pause(ctx, j.ID, "user")
	case "resume":
		err = s.cfg.Engine.Resume(ctx, j.ID)
	case "abort":
		err = s.cfg.Engine.Abort(ctx, j.ID)
	case "restart-failed":
		n, err = s.cfg.Engine.RestartFailed(ctx, j.ID)
	case "restart-units":
		var req struct {
			UnitIDs []int64 `json:"unit_ids"`
		}
		if !s.readJSON(w, r, &req) {
			return
		}
		n, err = s.cfg.Engine.RestartUnits(ctx, j.ID, req.UnitIDs)
	default:
		facade.JSONError(w, http.StatusNotFound, "unknown action; want pause, resume, abort, restart-failed or restart-units")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	j, err = s.cfg.Store.GetJob(ctx, j.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := jobView(j, nil)
	facade.JSON(w, http.StatusOK, map[string]any{"job": v, "units_changed": n})
}

// UnitView is a unit as the native API shows it.
type UnitView struct {
	ID         int64            `json:"id"`
	JobID      int64            `json:"job_id"`
	Index      int              `json:"index"`
	Name       string           `json:"name,omitempty"`
	Status     store.UnitStatus `json:"status"`
	Capability string           `json:"capability"`
	Attempts   int              `json:"attempts"`
	WorkerID   int64            `json:"worker_id,omitempty"`
	Epoch      int64            `json:"epoch"`
	Progress   float64          `json:"progress"`
	Error      string           `json:"error,omitempty"`
	Result     json.RawMessage  `json:"result,omitempty"`
	Outputs    json.RawMessage  `json:"outputs,omitempty"`
	Log        string           `json:"log,omitempty"`
	StartedAt  *time.Time       `json:"started_at,omitempty"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
}

func unitView(u store.Unit) UnitView {
	return UnitView{ID: u.ID, JobID: u.JobID, Index: u.Index, Name: u.Name, Status: u.Status, Capability: u.Capability,
		Attempts: u.Attempts, WorkerID: u.WorkerID, Epoch: u.Epoch, Progress: u.Progress, Error: u.Error,
		Result: u.Result, Outputs: u.Outputs, StartedAt: u.StartedAt, FinishedAt: u.FinishedAt}
}

func (s *API) handleListUnits(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	limit, offset, ok := paging(w, r, 100, 10000)
	if !ok {
		return
	}
	f := store.UnitFilter{JobID: j.ID, Limit: limit, Offset: offset}
	for _, st := range strings.Split(r.URL.Query().Get("status"), ",") {
		if st != "" {
			f.Statuses = append(f.Statuses, store.UnitStatus(st))
		}
	}
	units, total, err := s.cfg.Store.ListUnits(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	withLog := r.URL.Query().Get("log") == "1"
	out := make([]UnitView, len(units))
	for i, u := range units {
		out[i] = unitView(u)
		if withLog {
			out[i].Log = u.Log
		}
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": total, "units": out})
}

func (s *API) handleClearBlocklist(w http.ResponseWriter, r *http.Request, c caller) {
	j, ok := s.job(w, r, c)
	if !ok {
		return
	}
	worker, err := queryInt(r, "worker", 0, 0, 1<<62)
	if err != nil {
		facade.JSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.cfg.Engine.ClearBlocklist(r.Context(), j.ID, int64(worker)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// AccountView is an account as the native API shows it.
type AccountView struct {
	ID           int64           `json:"id"`
	ParentID     int64           `json:"parent_id,omitempty"`
	Name         string          `json:"name"`
	Role         store.Role      `json:"role"`
	BalanceMilli int64           `json:"balance_milli"`
	CouponMilli  int64           `json:"coupon_milli"`
	CreditMilli  int64           `json:"credit_milli"`
	Quota        int64           `json:"quota"`
	Settings     json.RawMessage `json:"settings,omitempty"`
}

func accountView(a store.Account) AccountView {
	return AccountView{ID: a.ID, ParentID: a.ParentID, Name: a.Name, Role: a.Role, BalanceMilli: a.BalanceMilli,
		CouponMilli: a.CouponMilli, CreditMilli: a.CreditMilli, Quota: a.Quota, Settings: a.Settings}
}

func (s *API) handleCreateAccount(w http.ResponseWriter, r *http.Request, c caller) {
	var req struct {
		Name     string          `json:"name"`
		Role     store.Role      `json:"role"`
		ParentID int64           `json:"parent_id"`
		Settings json.RawMessage `json:"settings"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	if !c.admin() && req.ParentID != c.account.ID {
		facade.JSONError(w, http.StatusForbidden, "only an admin creates main accounts; a user creates sub-accounts of its own")
		return
	}
	if req.Role == "" {
		req.Role = store.RoleUser
	}
	if req.Role != store.RoleUser && (req.Role != store.RoleAdmin || !c.admin()) {
		facade.JSONError(w, http.StatusBadRequest, "role must be user (or admin, by an admin)")
		return
	}
	a, err := CreateAccount(r.Context(), s.cfg.Store, req.Name, req.Role, req.ParentID, req.Settings, s.cfg.Engine.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, accountView(a))
}

// CreateAccount validates and creates an account.
func CreateAccount(ctx context.Context, st Accounts, name string, role store.Role, parentID int64, settings json.RawMessage, now time.Time) (store.Account, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return store.Account{}, fmt.Errorf("%w: name must be 1 to 100 characters", engine.ErrInvalid)
	}
	if len(settings) > 0 && !json.Valid(settings) {
		return store.Account{}, fmt.Errorf("%w: settings must be a JSON object", engine.ErrInvalid)
	}
	if parentID != 0 {
		p, err := st.GetAccount(ctx, parentID)
		if err != nil {
			return store.Account{}, fmt.Errorf("%w: parent account %d not found", engine.ErrInvalid, parentID)
		}
		if p.ParentID != 0 {
			return store.Account{}, fmt.Errorf("%w: a sub-account cannot have sub-accounts", engine.ErrInvalid)
		}
	}
	a, err := st.CreateAccount(ctx, store.Account{Name: name, Role: role, ParentID: parentID, Settings: settings, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return store.Account{}, fmt.Errorf("create account %q: %w", name, err)
	}
	return a, nil
}

func (s *API) handleFunds(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.admin() {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	var d struct {
		BalanceMilli int64  `json:"balance_milli"`
		CouponMilli  int64  `json:"coupon_milli"`
		CreditMilli  int64  `json:"credit_milli"`
		Quota        int64  `json:"quota"`
		Note         string `json:"note"`
	}
	if !s.readJSON(w, r, &d) {
		return
	}
	if len(d.Note) > 1000 {
		facade.JSONError(w, http.StatusBadRequest, "note is longer than 1000 bytes")
		return
	}
	// Through the engine: the change and its ledger line land together, and jobs stopped for arrears
	// are settled and resumed from it by the leader's sweep.
	a, okFunds, err := s.cfg.Engine.AdjustFunds(r.Context(), id, store.FundsDelta{
		BalanceMilli: d.BalanceMilli, CouponMilli: d.CouponMilli, CreditMilli: d.CreditMilli, Quota: d.Quota,
	}, d.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !okFunds {
		facade.JSONError(w, http.StatusConflict, "the change would make a balance negative")
		return
	}
	facade.JSON(w, http.StatusOK, accountView(a))
}

// handleGetLimits shows the limits in force for an account: to an admin, or to the account itself.
func (s *API) handleGetLimits(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.owns(id) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	l, err := s.cfg.Engine.AccountLimits(r.Context(), id)
	if err == nil {
		_, err = s.cfg.Store.GetAccount(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, l)
}

// handleSetLimits changes an account's limits; admins only. A field above zero sets that limit, an
// absent or zero one leaves it, a negative one goes back to the server's default.
func (s *API) handleSetLimits(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.admin() {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	var req engine.Limits
	if !s.readJSON(w, r, &req) {
		return
	}
	l, err := s.cfg.Engine.SetAccountLimits(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, l)
}

func (s *API) handleIssueToken(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.owns(id) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	var req struct {
		Kind  store.CredentialKind `json:"kind"`
		Label string               `json:"label"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.Kind != store.CredAdmin && req.Kind != store.CredAgent {
		facade.JSONError(w, http.StatusBadRequest, "kind must be admin or agent; dialect keys are made by their own commands")
		return
	}
	if _, err := s.cfg.Store.GetAccount(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	token, cred, err := auth.IssueToken(r.Context(), s.cfg.Store, id, req.Kind, req.Label, s.cfg.Engine.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, map[string]any{"id": cred.ID, "kind": cred.Kind, "token": token})
}

// handleIssueKey makes a dialect credential (render accessId/accessKey, RPA accessKey/secretKey)
// through the facade that speaks that dialect.
func (s *API) handleIssueKey(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok || !c.owns(id) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	var req struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	if !s.readJSON(w, r, &req) {
		return
	}
	ki, ok := s.issuers[req.Kind]
	if !ok {
		kinds := make([]string, 0, len(s.issuers))
		for k := range s.issuers {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		facade.JSONError(w, http.StatusBadRequest, fmt.Sprintf("kind must be one of %s", strings.Join(kinds, ", ")))
		return
	}
	if _, err := s.cfg.Store.GetAccount(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	fields, err := ki.IssueKey(r.Context(), id, req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, map[string]any{"kind": req.Kind, "account_id": id, "key": fields})
}

// handleAccountSetting reads (GET) or changes (PATCH) a facade's settings of one account, such as
// the render prices; admins only, anyone else gets 404.
func (s *API) handleAccountSetting(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	as, known := s.acctSets[r.PathValue("name")]
	if !ok || !known || !c.admin() {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	var doc json.RawMessage
	var err error
	if r.Method == http.MethodGet {
		doc, err = as.GetAccountSetting(r.Context(), id)
	} else {
		var patch json.RawMessage
		if !s.readJSON(w, r, &patch) {
			return
		}
		doc, err = as.PatchAccountSetting(r.Context(), id, patch)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, doc)
}

// setting finds the named setting for an admin; anyone else, or an unknown name, gets 404.
func (s *API) setting(w http.ResponseWriter, r *http.Request, c caller) (Setting, bool) {
	st, ok := s.settings[r.PathValue("name")]
	if !ok || !c.admin() {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return nil, false
	}
	return st, true
}

func (s *API) handleGetSetting(w http.ResponseWriter, r *http.Request, c caller) {
	st, ok := s.setting(w, r, c)
	if !ok {
		return
	}
	doc, err := st.GetSetting(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, doc)
}

func (s *API) handlePutSetting(w http.ResponseWriter, r *http.Request, c caller) {
	st, ok := s.setting(w, r, c)
	if !ok {
		return
	}
	var doc json.RawMessage
	if !s.readJSON(w, r, &doc) {
		return
	}
	if err := st.PutSetting(r.Context(), doc); err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, doc)
}

func (s *API) handleDeleteSchedule(w http.ResponseWriter, r *http.Request, c caller) {
	sc, ok := s.schedule(w, r, c)
	if !ok {
		return
	}
	if err := s.cfg.Engine.DeleteSchedule(r.Context(), sc.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handlePutBlob stores an upload and records it as the caller's: uploading content again (it is
// stored once) is how an account shows it holds it.
func (s *API) handlePutBlob(w http.ResponseWriter, r *http.Request, c caller) {
	if !facade.UploadBody(w, r, s.cfg.MaxUploadBytes) {
		return
	}
	ref, err := s.cfg.Blobs.Put(r.Context(), r.Body, s.cfg.MaxUploadBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Store.AddBlobRefs(r.Context(), c.account.ID, []string{ref.Hash}, s.cfg.Engine.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, ref)
}

// handleGetBlob serves a blob the caller's account may read (an admin reads any); anything else is
// 404, as for a hash that does not exist.
func (s *API) handleGetBlob(w http.ResponseWriter, r *http.Request, c caller) {
	hash := r.PathValue("hash")
	if !c.admin() && blob.ValidHash(hash) {
		ok, err := s.cfg.Store.HasBlobRef(r.Context(), c.account.ID, hash)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			facade.JSONError(w, http.StatusNotFound, "not found")
			return
		}
	}
	// A blob is anyone's upload served from the console's origin: a sandboxed document, so that an
	// HTML file opened from a job's outputs runs no script with the reader's session.
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	facade.ServeBlob(w, r, s.cfg.Blobs, s.log, hash)
}

// namedBlobs lists the blobs that v (a job spec or schedule template an admin submits for another
// account) names, which that account is then granted, so that its workers may fetch them and it may
// read them. A tenant submitting for itself gains nothing: it can only name what it may read already,
// and naming a blob grants no read right.
func namedBlobs(c caller, accountID int64, v any) ([]string, error) {
	if accountID == c.account.ID || !c.admin() {
		return nil, nil
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode job spec: %w", err)
	}
	var hashes []string
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if h, ok := tok.(string); ok && blob.ValidHash(h) {
			hashes = append(hashes, h)
		}
	}
	return hashes, nil
}

// blobGranter records read rights: the store, or the job's transaction.
type blobGranter interface {
	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
}

// grantBlobs gives accountID the read rights namedBlobs found.
func grantBlobs(ctx context.Context, refs blobGranter, accountID int64, hashes []string, now time.Time) error {
	if len(hashes) == 0 {
		return nil
	}
	if err := refs.AddBlobRefs(ctx, accountID, hashes, now); err != nil {
		return fmt.Errorf("grant the job's blobs to account %d: %w", accountID, err)
	}
	return nil
}
