package engine

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"taskcenter/internal/store"
)

// ErrInvalid wraps a request the engine refuses because of what it asks for. It is the store's
// ErrInvalid, so that text the store refuses (NUL bytes, invalid UTF-8) answers as any other invalid
// parameter at every door.
var ErrInvalid = store.ErrInvalid

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// JobSpec describes a job to submit.
type JobSpec struct {
	AccountID      int64    `json:"account_id"`
	ParentID       int64    `json:"parent_id,omitempty"`
	WaitFor        int64    `json:"wait_for,omitempty"`
	Kind           string   `json:"kind"`
	Alias          string   `json:"alias,omitempty"`
	Name           string   `json:"name,omitempty"`
	Project        string   `json:"project,omitempty"`
	Priority       int      `json:"priority,omitempty"`
	MaxConcurrency int      `json:"max_concurrency,omitempty"`
	MaxAttempts    int      `json:"max_attempts,omitempty"`
	BlocklistAfter int      `json:"blocklist_after,omitempty"`
	UnitTimeout    Duration `json:"unit_timeout,omitempty"`
	JobTimeout     Duration `json:"job_timeout,omitempty"`
	// PendingTimeout ends the job (cancelled, reason ReasonPendingTimeout) when no unit has started
	// this long after it was queued.
	PendingTimeout Duration        `json:"pending_timeout,omitempty"`
	Paused         bool            `json:"paused,omitempty"`
	PauseReason    PauseReason     `json:"pause_reason,omitempty"`
	Spec           json.RawMessage `json:"spec,omitempty"`
	Units          []UnitSpec      `json:"units"`
}

// UnitSpec describes one unit of a job.
type UnitSpec struct {
	Name       string `json:"name,omitempty"`
	Capability string `json:"capability"`
	Tag        string `json:"tag,omitempty"`
	// AnyTags lets a worker carrying any one of these tags lease the unit (candidate workers); it
	// excludes Tag.
	AnyTags  []string        `json:"any_tags,omitempty"`
	Priority int             `json:"priority,omitempty"`
	Deadline *time.Time      `json:"deadline,omitempty"`
	RunAfter *time.Time      `json:"run_after,omitempty"`
	Spec     json.RawMessage `json:"spec,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("90s") or seconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var secs float64
	if err := json.Unmarshal(b, &secs); err == nil {
		// Beyond about 292 years the nanoseconds overflow, and a huge limit would read as negative.
		ns := secs * float64(time.Second)
		if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
			return fmt.Errorf("duration %s s is out of range: at most %d seconds", b, int64(math.MaxInt64/int64(time.Second)))
		}
		*d = Duration(ns)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration must be a number of seconds or a string like \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

func (s *JobSpec) validate(open bool) error {
	switch {
	case s.AccountID <= 0:
		return invalid("account is required")
	case s.Kind == "":
		return invalid("kind is required")
	case len(s.Units) == 0 && !open:
		return invalid("a job needs at least one unit")
	case s.MaxConcurrency < 0:
		return invalid("max_concurrency must not be negative")
	case s.MaxAttempts < 0 || s.MaxAttempts > 100:
		return invalid("max_attempts must be between 0 and 100")
	case s.BlocklistAfter < 0:
		return invalid("blocklist_after must not be negative")
	case s.UnitTimeout < 0 || s.JobTimeout < 0 || s.PendingTimeout < 0:
		return invalid("time limits must not be negative")
	case len(s.Name) > 1000 || len(s.Project) > 1000 || len(s.Alias) > 200:
		return invalid("name, project or alias too long")
	}
	return validateUnits(s.Units)
}

// maxAnyTags bounds the candidate tags of one unit.
const maxAnyTags = 1000

func validateUnits(units []UnitSpec) error {
	for i, u := range units {
		switch {
		case u.Capability == "":
			return invalid("units[%d]: capability is required", i)
		case u.Tag == store.AnyTagMarker:
			return invalid("units[%d]: tag %q is reserved", i, u.Tag)
		case u.Tag != "" && len(u.AnyTags) > 0:
			return invalid("units[%d]: tag and any_tags exclude each other", i)
		case len(u.AnyTags) > maxAnyTags:
			return invalid("units[%d]: at most %d any_tags", i, maxAnyTags)
		}
		for _, t := range u.AnyTags {
			if t == "" || t == store.AnyTagMarker {
				return invalid("units[%d]: any_tags holds an empty or reserved tag", i)
			}
		}
	}
	return nil
}

func (s *JobSpec) toStore() (store.Job, []store.Unit) {
	j := store.Job{
		AccountID: s.AccountID, ParentID: s.ParentID, WaitFor: s.WaitFor, Kind: s.Kind, Alias: s.Alias,
		Name: s.Name, Project: s.Project, Priority: s.Priority, MaxConcurrency: s.MaxConcurrency,
		MaxAttempts: s.MaxAttempts, BlocklistAfter: s.BlocklistAfter,
		UnitTimeout: time.Duration(s.UnitTimeout), JobTimeout: time.Duration(s.JobTimeout), Spec: s.Spec,
		PendingTimeout: time.Duration(s.PendingTimeout),
		Status:         store.JobQueued,
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = 3
	}
	if s.Paused {
		j.Status = store.JobPaused
		j.PauseReason = string(cmp.Or(s.PauseReason, PauseUser))
	}
	return j, unitsFromSpecs(s.Units, 0)
}

func unitsFromSpecs(specs []UnitSpec, firstIndex int) []store.Unit {
	units := make([]store.Unit, len(specs))
	for i, u := range specs {
		units[i] = store.Unit{
			Index: firstIndex + i, Name: u.Name, Capability: u.Capability, Tag: u.Tag, AnyTags: u.AnyTags, Priority: u.Priority,
			Deadline: u.Deadline, Spec: u.Spec,
		}
		if u.RunAfter != nil {
			units[i].RunAfter = *u.RunAfter
		}
	}
	return units
}
