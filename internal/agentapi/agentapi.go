// Package agentapi holds the wire types of the agent protocol (api/agent.yaml), shared by the server's
// handlers and the agent's client so that the two cannot drift apart. It has no behaviour of its own
// beyond decoding and validating what arrives.
package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Paths of the protocol, under the server's base URL.
const (
	PathRegister  = "/agent/v1/register"
	PathHeartbeat = "/agent/v1/heartbeat"
	PathLease     = "/agent/v1/lease"
	PathProgress  = "/agent/v1/progress"
	PathComplete  = "/agent/v1/complete"
	PathFail      = "/agent/v1/fail"
	PathRelease   = "/agent/v1/release"
	// PathOutput is followed by /{unitID}/{name}?epoch=N; the body is the file, streamed.
	PathOutput = "/agent/v1/output"
	// PathBlob is followed by /{hash}: an input the unit's spec names (scene file, package).
	PathBlob = "/agent/v1/blob"
	// PathUnitSpec is followed by /{unitID}?epoch=N (GET): the current spec of a unit the caller holds,
	// for units whose spec changes while they run (recorder captures).
	PathUnitSpec = "/agent/v1/unit"
)

// MaxBodyBytes bounds every JSON request body of the protocol.
const MaxBodyBytes = 1 << 20

// RegisterRequest is sent with the enrollment token (Authorization: Bearer).
type RegisterRequest struct {
	Name         string          `json:"name"`
	Kind         string          `json:"kind"`
	Capabilities []string        `json:"capabilities"`
	Tags         []string        `json:"tags,omitempty"`
	Info         json.RawMessage `json:"info,omitempty"` // host, OS, software versions, ...
	// Held lists the units the agent still runs or holds unsent reports for (its outbox). Every other
	// unit the worker's previous incarnation held is requeued at registration.
	Held []UnitRef `json:"held,omitempty"`
}

// Validate checks the fields a registration needs.
func (r *RegisterRequest) Validate() error {
	switch {
	case strings.TrimSpace(r.Name) == "":
		return errors.New("name is required")
	case len(r.Name) > 200:
		return errors.New("name is longer than 200 characters")
	case r.Kind == "":
		return errors.New("kind is required")
	case len(r.Capabilities) > 100 || len(r.Tags) > 100:
		return errors.New("at most 100 capabilities and 100 tags")
	case len(r.Held) > 10000:
		return errors.New("at most 10000 held units")
	}
	return nil
}

// RegisterResponse carries the worker's own token for every later call.
type RegisterResponse struct {
	WorkerID    int64  `json:"worker_id"`
	WorkerToken string `json:"worker_token"`
	// HeartbeatSeconds is how often the agent should heartbeat; a lease lives three times as long.
	HeartbeatSeconds int `json:"heartbeat_seconds"`
}

// UnitRef names a unit lease: the unit and the fencing epoch it was leased with.
type UnitRef struct {
	UnitID int64 `json:"unit_id"`
	Epoch  int64 `json:"epoch"`
}

// HeartbeatRequest lists the units the agent is running.
type HeartbeatRequest struct {
	Running []UnitRef `json:"running"`
	Status  string    `json:"status,omitempty"` // idle or busy
}

// HeartbeatResponse tells the agent which of its units to stop: their lease is gone (expired, paused,
// stopped or aborted by a user).
type HeartbeatResponse struct {
	Cancel []UnitRef `json:"cancel"`
}

// LeaseRequest asks for up to Max units, waiting up to WaitSeconds when none is ready.
type LeaseRequest struct {
	Max         int `json:"max"`
	WaitSeconds int `json:"wait_seconds"`
}

// Validate checks the bounds.
func (r *LeaseRequest) Validate() error {
	if r.Max < 0 || r.Max > 1000 {
		return fmt.Errorf("max must be between 0 and 1000, got %d", r.Max)
	}
	if r.WaitSeconds < 0 || r.WaitSeconds > 60 {
		return fmt.Errorf("wait_seconds must be between 0 and 60, got %d", r.WaitSeconds)
	}
	if r.Max == 0 {
		r.Max = 1
	}
	return nil
}

// Unit is a leased unit as the agent sees it.
type Unit struct {
	UnitID     int64           `json:"unit_id"`
	JobID      int64           `json:"job_id"`
	Epoch      int64           `json:"epoch"`
	Attempt    int             `json:"attempt"`
	Capability string          `json:"capability"` // selects the executor
	Name       string          `json:"name"`
	Spec       json.RawMessage `json:"spec"` // the executor's input; see the executors' docs
	// LeaseSeconds is how long the lease lives without a heartbeat or progress report.
	LeaseSeconds int `json:"lease_seconds"`
	// TimeoutSeconds is the unit's run time limit, 0 for none.
	TimeoutSeconds int `json:"timeout_seconds"`
}

// UnitSpecResponse is the current spec of a held unit and the outputs it already has (a recorder that
// takes over a capture continues after the segments stored before).
type UnitSpecResponse struct {
	Spec    json.RawMessage   `json:"spec"`
	Outputs map[string]Output `json:"outputs"`
}

// LeaseResponse carries the leased units; empty when the wait ran out.
type LeaseResponse struct {
	Units []Unit `json:"units"`
}

// ProgressRequest reports progress (0..100) and appends log text.
type ProgressRequest struct {
	UnitRef
	Progress float64 `json:"progress"`
	Log      string  `json:"log,omitempty"`
}

// Validate checks the bounds.
func (r *ProgressRequest) Validate() error {
	if r.UnitID <= 0 || r.Epoch <= 0 {
		return errors.New("unit_id and epoch are required")
	}
	if r.Progress < 0 || r.Progress > 100 {
		return fmt.Errorf("progress must be between 0 and 100, got %v", r.Progress)
	}
	if len(r.Log) > 256<<10 {
		return errors.New("log chunk is larger than 256 KiB")
	}
	return nil
}

// Output names an uploaded blob.
type Output struct {
	Hash        string `json:"hash"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
}

// OutputResponse answers an output upload.
type OutputResponse struct {
	Name string `json:"name"`
	Output
}

// CompleteRequest reports units done, in a batch.
type CompleteRequest struct {
	Units []Completion `json:"units"`
}

// Completion is one finished unit.
type Completion struct {
	UnitRef
	Result json.RawMessage `json:"result,omitempty"`
	// Seconds is the node time the unit took, which billing uses.
	Seconds float64 `json:"seconds,omitempty"`
}

// Validate checks the batch.
func (r *CompleteRequest) Validate() error {
	if len(r.Units) == 0 {
		return errors.New("units is empty")
	}
	if len(r.Units) > 1000 {
		return errors.New("at most 1000 units per report")
	}
	for i, u := range r.Units {
		if u.UnitID <= 0 || u.Epoch <= 0 {
			return fmt.Errorf("units[%d]: unit_id and epoch are required", i)
		}
		if u.Seconds < 0 {
			return fmt.Errorf("units[%d]: seconds is negative", i)
		}
	}
	return nil
}

// CompleteResponse says, per unit in request order, whether the report was taken.
type CompleteResponse struct {
	Results []ReportResult `json:"results"`
}

// ReportResult is "ok" or "stale" (the lease is no longer this agent's; 409 when sent alone).
type ReportResult struct {
	UnitID int64  `json:"unit_id"`
	Status string `json:"status"`
}

// FailRequest reports a failed attempt.
type FailRequest struct {
	UnitRef
	Error    string  `json:"error"`
	ExitCode int     `json:"exit_code,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
	// Permanent asks not to retry (the input itself is bad).
	Permanent bool `json:"permanent,omitempty"`
}

// Validate checks the fields.
func (r *FailRequest) Validate() error {
	if r.UnitID <= 0 || r.Epoch <= 0 {
		return errors.New("unit_id and epoch are required")
	}
	if len(r.Error) > 64<<10 {
		r.Error = r.Error[:64<<10]
	}
	return nil
}

// ReleaseRequest hands units back on graceful shutdown.
type ReleaseRequest struct {
	Units []UnitRef `json:"units"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Decode reads one JSON value of at most MaxBodyBytes from r into v, refusing unknown fields and
// trailing data, so that a malformed request is rejected before anything is written.
func Decode(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, MaxBodyBytes+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty")
		}
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: trailing data after the object")
	}
	if dec.InputOffset() > MaxBodyBytes {
		return fmt.Errorf("request body is larger than %d bytes", MaxBodyBytes)
	}
	return nil
}
