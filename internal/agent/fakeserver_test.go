package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/testutil"
)

// fakeServer is a minimal test double of the lead's server side of the protocol: it hands out the
// queued units, records every report, and lets a test script failures.
type fakeServer struct {
	t      testing.TB
	srv    *httptest.Server
	enroll string

	mu            sync.Mutex
	token         string // current worker token
	registers     int
	queue         []agentapi.Unit
	leased        map[int64]agentapi.Unit
	progress      map[int64][]agentapi.ProgressRequest
	completes     []agentapi.Completion
	completeCalls int
	fails         []agentapi.FailRequest
	released      []agentapi.UnitRef
	heartbeats    []agentapi.HeartbeatRequest
	outputs       map[string][]byte // "unit/name"
	blobs         map[string][]byte
	blobGets      int

	// Scripted answers; nil means the normal behaviour.
	onProgress  func(agentapi.ProgressRequest) int                 // status code
	onComplete  func(call int) int                                 // status code for the call-th complete (1-based)
	onHeartbeat func(agentapi.HeartbeatRequest) []agentapi.UnitRef // units to cancel
	onLease     func(call int) int
	leaseCalls  int

	// Live specs (GET unit spec), by unit id; specStatus, when set, answers instead.
	specs      map[int64]json.RawMessage
	specStatus int
	registered []agentapi.RegisterRequest
}

func newFakeServer(t testing.TB) *fakeServer {
	s := &fakeServer{
		t: t, enroll: "enroll-secret",
		leased: map[int64]agentapi.Unit{}, progress: map[int64][]agentapi.ProgressRequest{},
		outputs: map[string][]byte{}, blobs: map[string][]byte{}, specs: map[int64]json.RawMessage{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.PathRegister, s.register)
	mux.HandleFunc("POST "+agentapi.PathHeartbeat, s.auth(s.heartbeat))
	mux.HandleFunc("POST "+agentapi.PathLease, s.auth(s.lease))
	mux.HandleFunc("POST "+agentapi.PathProgress, s.auth(s.progressHandler))
	mux.HandleFunc("POST "+agentapi.PathComplete, s.auth(s.complete))
	mux.HandleFunc("POST "+agentapi.PathFail, s.auth(s.fail))
	mux.HandleFunc("POST "+agentapi.PathRelease, s.auth(s.release))
	mux.HandleFunc("PUT "+agentapi.PathOutput+"/{unit}/{name}", s.auth(s.output))
	mux.HandleFunc("GET "+agentapi.PathBlob+"/{hash}", s.auth(s.blob))
	mux.HandleFunc("GET "+agentapi.PathUnitSpec+"/{unit}", s.auth(s.unitSpec))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) URL() string { return s.srv.URL }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, agentapi.Error{Error: msg})
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (s *fakeServer) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ok := s.token != "" && bearer(r) == s.token
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusUnauthorized, "bad worker token")
			return
		}
		h(w, r)
	}
}

// revoke invalidates the worker token: the next calls get 401.
func (s *fakeServer) revoke() {
	s.mu.Lock()
	s.token = "revoked"
	s.mu.Unlock()
}

func (s *fakeServer) add(units ...agentapi.Unit) {
	s.mu.Lock()
	s.queue = append(s.queue, units...)
	s.mu.Unlock()
}

func (s *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	if bearer(r) != s.enroll {
		writeError(w, http.StatusUnauthorized, "bad enrollment token")
		return
	}
	var req agentapi.RegisterRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.registered = append(s.registered, req)
	s.registers++
	s.token = fmt.Sprintf("worker-token-%d", s.registers)
	resp := agentapi.RegisterResponse{WorkerID: 1, WorkerToken: s.token, HeartbeatSeconds: 1}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (s *fakeServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req agentapi.HeartbeatRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.heartbeats = append(s.heartbeats, req)
	hook := s.onHeartbeat
	s.mu.Unlock()
	resp := agentapi.HeartbeatResponse{Cancel: []agentapi.UnitRef{}}
	if hook != nil {
		resp.Cancel = append(resp.Cancel, hook(req)...)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *fakeServer) lease(w http.ResponseWriter, r *http.Request) {
	var req agentapi.LeaseRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.leaseCalls++
	if s.onLease != nil {
		if code := s.onLease(s.leaseCalls); code != http.StatusOK {
			s.mu.Unlock()
			writeError(w, code, "scripted")
			return
		}
	}
	s.mu.Unlock()
	deadline := time.Now().Add(time.Duration(req.WaitSeconds) * time.Second)
	for {
		s.mu.Lock()
		n := min(req.Max, len(s.queue))
		units := append([]agentapi.Unit{}, s.queue[:n]...)
		s.queue = s.queue[n:]
		for _, u := range units {
			s.leased[u.UnitID] = u
		}
		s.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			writeJSON(w, http.StatusOK, agentapi.LeaseResponse{Units: units})
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *fakeServer) progressHandler(w http.ResponseWriter, r *http.Request) {
	var req agentapi.ProgressRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	hook := s.onProgress
	s.progress[req.UnitID] = append(s.progress[req.UnitID], req)
	s.mu.Unlock()
	if hook != nil {
		if code := hook(req); code != http.StatusOK {
			writeError(w, code, "scripted")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *fakeServer) complete(w http.ResponseWriter, r *http.Request) {
	var req agentapi.CompleteRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.completeCalls++
	if s.onComplete != nil {
		if code := s.onComplete(s.completeCalls); code != http.StatusOK {
			s.mu.Unlock()
			writeError(w, code, "scripted")
			return
		}
	}
	resp := agentapi.CompleteResponse{}
	for _, c := range req.Units {
		s.completes = append(s.completes, c)
		resp.Results = append(resp.Results, agentapi.ReportResult{UnitID: c.UnitID, Status: "ok"})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (s *fakeServer) fail(w http.ResponseWriter, r *http.Request) {
	var req agentapi.FailRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.fails = append(s.fails, req)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *fakeServer) release(w http.ResponseWriter, r *http.Request) {
	var req agentapi.ReleaseRequest
	if err := agentapi.Decode(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.released = append(s.released, req.Units...)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *fakeServer) output(w http.ResponseWriter, r *http.Request) {
	if _, err := strconv.ParseInt(r.URL.Query().Get("epoch"), 10, 64); err != nil {
		writeError(w, http.StatusBadRequest, "epoch is required")
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.ContentLength != int64(len(data)) {
		writeError(w, http.StatusBadRequest, "length mismatch")
		return
	}
	name := r.PathValue("name")
	s.mu.Lock()
	s.outputs[r.PathValue("unit")+"/"+name] = data
	s.mu.Unlock()
	sum := sha256.Sum256(data)
	writeJSON(w, http.StatusOK, agentapi.OutputResponse{Name: name, Output: agentapi.Output{Hash: hex.EncodeToString(sum[:]), Size: int64(len(data))}})
}

func (s *fakeServer) putBlob(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	s.mu.Lock()
	s.blobs[h] = data
	s.mu.Unlock()
	return h
}

func (s *fakeServer) blob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data, ok := s.blobs[r.PathValue("hash")]
	if r.Method == http.MethodGet {
		s.blobGets++
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no such blob")
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// snapshot returns a copy of the recorded state under the lock.
func (s *fakeServer) with(f func(s *fakeServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		if !cond() {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	})
}

// unitSpec answers the current spec of a leased unit and its outputs so far.
func (s *fakeServer) unitSpec(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("unit"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad unit id")
		return
	}
	epoch, _ := strconv.ParseInt(r.URL.Query().Get("epoch"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	u, leased := s.leased[id]
	switch {
	case s.specStatus != 0:
		writeError(w, s.specStatus, "scripted")
		return
	case !leased || u.Epoch != epoch:
		writeError(w, http.StatusConflict, "not your unit")
		return
	}
	spec := s.specs[id]
	if spec == nil {
		spec = u.Spec
	}
	resp := agentapi.UnitSpecResponse{Spec: spec, Outputs: map[string]agentapi.Output{}}
	prefix := strconv.FormatInt(id, 10) + "/"
	for key, data := range s.outputs {
		if name, ok := strings.CutPrefix(key, prefix); ok {
			sum := sha256.Sum256(data)
			resp.Outputs[name] = agentapi.Output{Hash: hex.EncodeToString(sum[:]), Size: int64(len(data))}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
