package aitasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/httplimit"
	"taskcenter/internal/store"
)

// Task statuses, as new-api names them.
const (
	StatusNotStart   = "NOT_START"
	StatusSubmitted  = "SUBMITTED"
	StatusQueued     = "QUEUED"
	StatusInProgress = "IN_PROGRESS"
	StatusFailure    = "FAILURE"
	StatusSuccess    = "SUCCESS"
	StatusUnknown    = "UNKNOWN"
)

// pollingStatuses are the statuses of a task that is with its upstream and still to finish.
var pollingStatuses = []string{StatusSubmitted, StatusQueued, StatusInProgress, StatusUnknown}

func finalStatus(s string) bool { return s == StatusSuccess || s == StatusFailure }

// taskItem is a task as the lists, the music fetch routes and notify_hook callbacks show it.
type taskItem struct {
	ID         int64           `json:"id"`
	CreatedAt  int64           `json:"created_at"`
	UpdatedAt  int64           `json:"updated_at"`
	TaskID     string          `json:"task_id"`
	Platform   string          `json:"platform"`
	UserID     int64           `json:"user_id"`
	Username   *string         `json:"username,omitempty"`
	ChannelID  int64           `json:"channel_id"`
	Quota      int64           `json:"quota"`
	Action     string          `json:"action"`
	Status     string          `json:"status"`
	FailReason string          `json:"fail_reason"`
	SubmitTime int64           `json:"submit_time"`
	StartTime  int64           `json:"start_time"`
	FinishTime int64           `json:"finish_time"`
	Progress   string          `json:"progress"`
	Properties json.RawMessage `json:"properties"`
	Data       json.RawMessage `json:"data"`
}

// itemOf shows t; admin views show the channel and the user name, a user's own view shows channel 0.
func itemOf(t store.AITask, admin bool) taskItem {
	it := taskItem{ID: t.ID, CreatedAt: t.CreatedAt.Unix(), UpdatedAt: t.UpdatedAt.Unix(), TaskID: t.TaskID,
		Platform: t.Platform, UserID: t.UserID, Quota: t.Quota, Action: t.Action, Status: t.Status,
		FailReason: t.FailReason, SubmitTime: t.SubmitTime, StartTime: t.StartTime, FinishTime: t.FinishTime,
		Progress: t.Progress, Properties: orEmpty(t.Properties), Data: orEmpty(t.Data)}
	if admin {
		it.ChannelID = t.ChannelID
		name := t.Username
		it.Username = &name
	}
	return it
}

func orEmpty(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || !json.Valid(m) {
		return json.RawMessage("{}")
	}
	return m
}

// listAnswer is the envelope of the task lists: {"success","message","data"}.
type listAnswer struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func listFail(w http.ResponseWriter, status int, msg string) {
	facade.JSON(w, status, listAnswer{Success: false, Message: msg})
}

// taskAnswer is the relay's envelope: {"code":"success","message":"","data":...} on success, and
// new-api's TaskError {"code":<error code>,"message":...,"data":null} on failure.
type taskAnswer struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// relayError is a refusal of the relay with new-api's error code and HTTP status.
type relayError struct {
	Status int
	Code   string
	Msg    string
	Err    error // the cause, logged, never sent
}

func (e *relayError) Error() string { return e.Code + ": " + e.Msg }
func (e *relayError) Unwrap() error { return e.Err }

func rerr(status int, code, msg string) *relayError {
	return &relayError{Status: status, Code: code, Msg: msg}
}

// relayFail answers err in new-api's TaskError shape; an unexpected error is a 500, logged.
func (a *API) relayFail(w http.ResponseWriter, r *http.Request, err error) {
	var re *relayError
	if !errors.As(err, &re) {
		re = a.classify(r, err)
	}
	if re.Status >= 500 && re.Err != nil {
		a.log.Error("relay request failed", "path", r.URL.Path, "err", re.Err)
	}
	facade.JSON(w, re.Status, taskAnswer{Code: re.Code, Message: re.Msg})
}

// classify maps the errors of auth, the store and the body reader onto the relay's answers.
func (a *API) classify(r *http.Request, err error) *relayError {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errUnauthorized):
		return rerr(http.StatusUnauthorized, "invalid_api_key", "invalid or missing API key")
	case errors.Is(err, errKeyDisabled):
		return rerr(http.StatusUnauthorized, "token_disabled", "the API key is disabled")
	case errors.Is(err, errKeyExpired):
		return rerr(http.StatusUnauthorized, "token_expired", "the API key has expired")
	case errors.As(err, &mbe):
		return rerr(http.StatusRequestEntityTooLarge, "request_body_too_large",
			fmt.Sprintf("request body too large: at most %d bytes", mbe.Limit))
	case errors.Is(err, store.ErrNotFound):
		return rerr(http.StatusBadRequest, "task_not_exist", "task_not_exist")
	case errors.Is(err, store.ErrInvalid):
		return rerr(http.StatusBadRequest, "invalid_request", err.Error())
	}
	return &relayError{Status: http.StatusInternalServerError, Code: "internal_error", Msg: "internal error", Err: err}
}

// readBody reads a request body of at most MaxBodyBytes, under the per-request body deadline.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return a.readBodyMax(w, r, a.cfg.MaxBodyBytes)
}

// readBodyMax reads a request body of at most limit bytes, under the per-request body deadline.
func (a *API) readBodyMax(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	httplimit.Body(w, r, 30*time.Second)
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, rerr(http.StatusBadRequest, "invalid_request", "could not read the request body")
	}
	return b, nil
}
