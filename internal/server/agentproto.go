package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

func (s *Server) mountAgentProtocol() {
	s.mux.HandleFunc("POST "+agentapi.PathRegister, s.handleRegister)
	s.mux.HandleFunc("POST "+agentapi.PathHeartbeat, s.withWorker(s.handleHeartbeat))
	s.mux.HandleFunc("POST "+agentapi.PathLease, s.withWorker(s.handleLease))
	s.mux.HandleFunc("POST "+agentapi.PathProgress, s.withWorker(s.handleProgress))
	s.mux.HandleFunc("POST "+agentapi.PathComplete, s.withWorker(s.handleComplete))
	s.mux.HandleFunc("POST "+agentapi.PathFail, s.withWorker(s.handleFail))
	s.mux.HandleFunc("POST "+agentapi.PathRelease, s.withWorker(s.handleRelease))
	s.mux.HandleFunc("PUT "+agentapi.PathOutput+"/{unit}/{name}", s.withWorker(s.handleOutput))
	s.mux.HandleFunc("GET "+agentapi.PathBlob+"/{hash}", s.withWorker(s.handleBlob))
	s.mux.HandleFunc("GET "+agentapi.PathUnitSpec+"/{unit}", s.withWorker(s.handleUnitSpec))
}

// decode reads a JSON request body into v with the protocol's limits, answering 400 or 413 itself.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > agentapi.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, agentapi.MaxBodyBytes)
	if err := agentapi.Decode(r.Body, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		} else {
			writeError(w, http.StatusBadRequest, err.Error())
		}
		return false
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return false
		}
	}
	return true
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.cfg.Engine.Now()
	cred, err := auth.VerifyToken(ctx, s.cfg.Store, store.CredAgent, facade.Bearer(r), now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req agentapi.RegisterRequest
	if !s.decode(w, r, &req) {
		return
	}
	acct, err := s.cfg.Store.GetAccount(ctx, cred.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// An admin's enrollment token makes a shared worker; a tenant's makes a worker of its own. The
	// name is the worker's within that account only: another account's worker of the same name is
	// another worker. Each registration is a new incarnation, whose token alone is good from now on.
	owner := acct.ID
	if acct.Role == store.RoleAdmin {
		owner = 0
	}
	wk, err := s.cfg.Engine.RegisterWorker(ctx, store.Worker{
		AccountID: owner, Name: req.Name, Kind: req.Kind, Capabilities: req.Capabilities, Tags: req.Tags, Info: req.Info,
	}, heldUnits(req.Held)...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token, _, err := auth.IssueToken(ctx, s.cfg.Store, acct.ID, store.CredWorker, workerLabel(wk), now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.workers.put(wk, time.Now())
	writeJSON(w, http.StatusOK, agentapi.RegisterResponse{
		WorkerID: wk.ID, WorkerToken: token, HeartbeatSeconds: int(s.cfg.Engine.Config().Heartbeat / time.Second),
	})
}

// workerLabel names, in a worker token's credential, the worker and incarnation it was issued to.
func workerLabel(w store.Worker) string {
	return strconv.FormatInt(w.ID, 10) + ":" + strconv.FormatInt(w.Incarnation, 10)
}

// parseWorkerLabel reads a workerLabel. A bare id is a token issued before incarnations were counted:
// it is good for incarnation 0, until the worker registers again.
func parseWorkerLabel(label string) (id, incarnation int64, err error) {
	ids, incs, found := strings.Cut(label, ":")
	if id, err = strconv.ParseInt(ids, 10, 64); err != nil || !found {
		return id, 0, err
	}
	incarnation, err = strconv.ParseInt(incs, 10, 64)
	return id, incarnation, err
}

// withWorker authenticates a worker token and passes the worker on.
func (s *Server) withWorker(h func(http.ResponseWriter, *http.Request, store.Worker)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wk, err := s.worker(r.Context(), facade.Bearer(r))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, wk)
	}
}

func (s *Server) worker(ctx context.Context, token string) (store.Worker, error) {
	now := time.Now()
	id, inc, ok := s.workers.token(token, now)
	if !ok {
		cred, err := auth.VerifyToken(ctx, s.cfg.Store, store.CredWorker, token, s.cfg.Engine.Now())
		if err != nil {
			return store.Worker{}, err
		}
		// The worker's id and incarnation are kept in the credential's label when the token is issued.
		if id, inc, err = parseWorkerLabel(cred.Label); err != nil {
			return store.Worker{}, auth.ErrUnauthorized
		}
		s.workers.putToken(token, id, inc, now)
	}
	// A cached record older than the token's incarnation is stale (the agent registered on another
	// replica): read it again.
	if w, ok := s.workers.worker(id, now); ok && w.Incarnation >= inc {
		if w.Incarnation != inc {
			return store.Worker{}, auth.ErrUnauthorized // a token of a previous incarnation
		}
		return w, nil
	}
	wk, err := s.cfg.Store.GetWorker(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Worker{}, auth.ErrUnauthorized // the worker was deleted
	}
	if err != nil {
		return store.Worker{}, err
	}
	s.workers.put(wk, now)
	if wk.Incarnation != inc {
		return store.Worker{}, auth.ErrUnauthorized // a token of a previous incarnation
	}
	return wk, nil
}

func heldUnits(refs []agentapi.UnitRef) []store.HeldUnit {
	out := make([]store.HeldUnit, len(refs))
	for i, r := range refs {
		out[i] = store.HeldUnit{UnitID: r.UnitID, Epoch: r.Epoch}
	}
	return out
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	var req agentapi.HeartbeatRequest
	if !s.decode(w, r, &req) {
		return
	}
	cancel, err := s.cfg.Engine.Heartbeat(r.Context(), wk, heldUnits(req.Running))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := agentapi.HeartbeatResponse{Cancel: make([]agentapi.UnitRef, len(cancel))}
	for i, c := range cancel {
		resp.Cancel[i] = agentapi.UnitRef{UnitID: c.UnitID, Epoch: c.Epoch}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleLease(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	var req agentapi.LeaseRequest
	if !s.decode(w, r, &req) {
		return
	}
	units, err := s.cfg.Engine.Lease(r.Context(), wk, req.Max, time.Duration(req.WaitSeconds)*time.Second)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	leaseSecs := int(s.cfg.Engine.Config().LeaseFor / time.Second)
	resp := agentapi.LeaseResponse{Units: make([]agentapi.Unit, len(units))}
	for i, u := range units {
		resp.Units[i] = agentapi.Unit{
			UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch, Attempt: u.Attempts, Capability: u.Capability,
			Name: u.Name, Spec: u.Spec, LeaseSeconds: leaseSecs,
		}
	}
	if len(units) == 0 {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	// Units whose answer does not reach the agent would stay leased to it unknown: hand them back when
	// the agent hung up before or while the answer was written.
	if r.Context().Err() != nil || writeDelivered(w, resp) != nil {
		s.cfg.Engine.ReturnLeased(r.Context(), wk.ID, units)
	}
}

// writeDelivered writes a 200 JSON answer and flushes it to the connection, reporting a failure to
// write it (the client is gone). A nil error does not prove the client read it: the agent's heartbeat,
// which does not list units it never received, is the backstop.
func writeDelivered(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (s *Server) handleProgress(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	var req agentapi.ProgressRequest
	if !s.decode(w, r, &req) {
		return
	}
	if err := s.cfg.Engine.Progress(r.Context(), store.ReportRef{UnitID: req.UnitID, Epoch: req.Epoch, WorkerID: wk.ID}, req.Progress, req.Log); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	var req agentapi.CompleteRequest
	if !s.decode(w, r, &req) {
		return
	}
	cs := make([]engine.Completion, len(req.Units))
	for i, u := range req.Units {
		cs[i] = engine.Completion{UnitID: u.UnitID, Epoch: u.Epoch, WorkerID: wk.ID, Result: u.Result, Seconds: u.Seconds}
	}
	errs, err := s.cfg.Engine.Complete(r.Context(), cs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := agentapi.CompleteResponse{Results: make([]agentapi.ReportResult, len(errs))}
	for i, e := range errs {
		resp.Results[i] = agentapi.ReportResult{UnitID: req.Units[i].UnitID, Status: "ok"}
		if e != nil {
			resp.Results[i].Status = "stale"
		}
	}
	if len(errs) == 1 && errs[0] != nil {
		s.fail(w, r, store.ErrStale)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleFail(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	var req agentapi.FailRequest
	if !s.decode(w, r, &req) {
		return
	}
	err := s.cfg.Engine.Fail(r.Context(), engine.Failure{
		UnitID: req.UnitID, Epoch: req.Epoch, WorkerID: wk.ID, Error: req.Error, Permanent: req.Permanent,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	var req agentapi.ReleaseRequest
	if !s.decode(w, r, &req) {
		return
	}
	n, err := s.cfg.Engine.Release(r.Context(), wk.ID, heldUnits(req.Units))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"released": n})
}

// handleOutput streams an output file into the blob store and records it on the unit, only while the
// uploader holds the unit's lease.
func (s *Server) handleOutput(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	ctx := r.Context()
	unitID, err1 := strconv.ParseInt(r.PathValue("unit"), 10, 64)
	epoch, err2 := strconv.ParseInt(r.URL.Query().Get("epoch"), 10, 64)
	name := r.PathValue("name")
	if err1 != nil || err2 != nil || !validOutputName(name) {
		writeError(w, http.StatusBadRequest, "want /agent/v1/output/{unit id}/{name}?epoch=N with a name of letters, digits, '.', '-' or '_'")
		return
	}
	u, err := s.cfg.Store.GetUnit(ctx, unitID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u.Status != store.UnitRunning || u.Epoch != epoch || u.WorkerID != wk.ID {
		s.fail(w, r, store.ErrStale)
		return
	}
	if !facade.UploadBody(w, r, s.cfg.MaxUploadBytes) {
		return
	}
	ref, err := s.cfg.Blobs.Put(ctx, r.Body, s.cfg.MaxUploadBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The output is the unit's account's to read (native API, its jobs' next units).
	if err := s.cfg.Store.AddBlobRefs(ctx, u.AccountID, []string{ref.Hash}, s.cfg.Engine.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	out := agentapi.Output{Hash: ref.Hash, Size: ref.Size, ContentType: r.Header.Get("Content-Type")}
	b, _ := json.Marshal(map[string]agentapi.Output{name: out})
	if err := s.cfg.Engine.SetOutputs(ctx, store.ReportRef{UnitID: unitID, Epoch: epoch, WorkerID: wk.ID}, b); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, agentapi.OutputResponse{Name: name, Output: out})
}

func validOutputName(n string) bool {
	if n == "" || len(n) > 100 || n[0] == '.' {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// handleBlob serves an input to an agent: only a blob that a unit the worker holds names in its spec,
// and that the unit's account may read. Knowing a hash grants nothing; anything else is 404, as for a
// hash that does not exist, so the answer does not tell whether someone else has the content.
func (s *Server) handleBlob(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	hash := r.PathValue("hash")
	if blob.ValidHash(hash) {
		ok, err := s.cfg.Store.HeldUnitsReferenceBlob(r.Context(), wk.ID, hash)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
	}
	facade.ServeBlob(w, r, s.cfg.Blobs, s.log, hash)
}

// handleUnitSpec answers the current spec of a unit the caller holds with the given epoch, and the
// outputs the unit has so far (those of an earlier holder included), so that a recorder applies a
// changed layout and one that took over continues after what was stored.
func (s *Server) handleUnitSpec(w http.ResponseWriter, r *http.Request, wk store.Worker) {
	unitID, err1 := strconv.ParseInt(r.PathValue("unit"), 10, 64)
	epoch, err2 := strconv.ParseInt(r.URL.Query().Get("epoch"), 10, 64)
	if err1 != nil || err2 != nil || unitID <= 0 || epoch <= 0 {
		writeError(w, http.StatusBadRequest, "want /agent/v1/unit/{unit id}?epoch=N")
		return
	}
	u, err := s.cfg.Store.GetUnit(r.Context(), unitID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u.Status != store.UnitRunning || u.Epoch != epoch || u.WorkerID != wk.ID {
		s.fail(w, r, store.ErrStale)
		return
	}
	resp := agentapi.UnitSpecResponse{Spec: u.Spec, Outputs: map[string]agentapi.Output{}}
	if len(resp.Spec) == 0 {
		resp.Spec = json.RawMessage("null")
	}
	if len(u.Outputs) > 0 {
		if err := json.Unmarshal(u.Outputs, &resp.Outputs); err != nil {
			s.fail(w, r, fmt.Errorf("read outputs of unit %d: %w", u.ID, err))
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
