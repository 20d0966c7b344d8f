package engine

import (
	"testing"

	"taskcenter/internal/store"
)

var allUnitStatuses = []store.UnitStatus{store.UnitBlocked, store.UnitQueued, store.UnitRunning, store.UnitPaused,
	store.UnitDone, store.UnitFailed, store.UnitTimedOut, store.UnitCancelled}

var allUnitEvents = []UnitEvent{UnitLease, UnitComplete, UnitRetry, UnitFail, UnitTimeout, UnitExpire, UnitRelease,
	UnitPause, UnitResume, UnitAbort, UnitRestart, UnitUnblock}

// TestUnitStateMachine checks every (status, event) pair: the allowed ones land where the table says, and
// every other pair is refused.
func TestUnitStateMachine(t *testing.T) {
	allowed := map[store.UnitStatus]map[UnitEvent]store.UnitStatus{
		store.UnitBlocked: {UnitUnblock: store.UnitQueued, UnitAbort: store.UnitCancelled},
		store.UnitQueued:  {UnitLease: store.UnitRunning, UnitPause: store.UnitPaused, UnitAbort: store.UnitCancelled},
		store.UnitRunning: {UnitComplete: store.UnitDone, UnitRetry: store.UnitQueued, UnitFail: store.UnitFailed,
			UnitTimeout: store.UnitTimedOut, UnitExpire: store.UnitQueued, UnitRelease: store.UnitQueued,
			UnitPause: store.UnitPaused, UnitAbort: store.UnitCancelled, UnitRestart: store.UnitQueued},
		store.UnitPaused:    {UnitResume: store.UnitQueued, UnitAbort: store.UnitCancelled, UnitRestart: store.UnitQueued},
		store.UnitDone:      {UnitRestart: store.UnitQueued},
		store.UnitFailed:    {UnitRestart: store.UnitQueued},
		store.UnitTimedOut:  {UnitRestart: store.UnitQueued},
		store.UnitCancelled: {UnitRestart: store.UnitQueued},
	}
	for _, from := range allUnitStatuses {
		for _, ev := range allUnitEvents {
			want, ok := allowed[from][ev]
			got, err := NextUnitStatus(from, ev)
			switch {
			case ok && (err != nil || got != want):
				t.Errorf("%s --%s--> got (%q, %v), want %q", from, ev, got, err, want)
			case !ok && err == nil:
				t.Errorf("%s --%s--> %q allowed, want refused", from, ev, got)
			}
		}
	}
}

func TestUnitStatusesFor(t *testing.T) {
	tests := []struct {
		ev   UnitEvent
		want []store.UnitStatus
	}{
		{UnitPause, []store.UnitStatus{store.UnitQueued, store.UnitRunning}},
		{UnitResume, []store.UnitStatus{store.UnitPaused}},
		{UnitAbort, []store.UnitStatus{store.UnitBlocked, store.UnitPaused, store.UnitQueued, store.UnitRunning}},
		{UnitRestart, []store.UnitStatus{store.UnitCancelled, store.UnitDone, store.UnitFailed, store.UnitPaused, store.UnitRunning, store.UnitTimedOut}},
	}
	for _, tc := range tests {
		got := unitStatusesFor(tc.ev)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.ev, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.ev, got, tc.want)
				break
			}
		}
	}
}

func TestJobStateMachine(t *testing.T) {
	all := []store.JobStatus{store.JobWaiting, store.JobQueued, store.JobRunning, store.JobPaused,
		store.JobSucceeded, store.JobPartial, store.JobFailed, store.JobCancelled}
	type result struct {
		to store.JobStatus
		ok bool
	}
	want := map[store.JobStatus]map[JobEvent]result{
		store.JobWaiting:   {JobPause: {store.JobPaused, true}, JobAbort: {store.JobCancelled, true}},
		store.JobQueued:    {JobPause: {store.JobPaused, true}, JobAbort: {store.JobCancelled, true}, JobRestart: {"", true}},
		store.JobRunning:   {JobPause: {store.JobPaused, true}, JobAbort: {store.JobCancelled, true}, JobRestart: {"", true}},
		store.JobPaused:    {JobResume: {"", true}, JobAbort: {store.JobCancelled, true}, JobRestart: {store.JobPaused, true}},
		store.JobSucceeded: {JobRestart: {"", true}},
		store.JobPartial:   {JobRestart: {"", true}},
		store.JobFailed:    {JobRestart: {"", true}},
		store.JobCancelled: {JobRestart: {"", true}},
	}
	for _, from := range all {
		for _, ev := range []JobEvent{JobPause, JobResume, JobAbort, JobRestart} {
			w := want[from][ev]
			got, err := NextJobStatus(from, ev)
			if w.ok != (err == nil) || got != w.to {
				t.Errorf("%s --%s--> got (%q, %v), want (%q, allowed=%v)", from, ev, got, err, w.to, w.ok)
			}
		}
	}
}

func TestDeriveJobStatus(t *testing.T) {
	type c = map[store.UnitStatus]int
	tests := []struct {
		name            string
		counts          c
		paused, waiting bool
		want            store.JobStatus
	}{
		{"no units", c{}, false, false, store.JobQueued},
		{"all queued", c{store.UnitQueued: 3}, false, false, store.JobQueued},
		{"one running", c{store.UnitQueued: 2, store.UnitRunning: 1}, false, false, store.JobRunning},
		{"some done, rest queued", c{store.UnitQueued: 2, store.UnitDone: 1}, false, false, store.JobRunning},
		{"retrying after a failure", c{store.UnitQueued: 1, store.UnitFailed: 1}, false, false, store.JobRunning},
		{"all done", c{store.UnitDone: 4}, false, false, store.JobSucceeded},
		{"done and failed", c{store.UnitDone: 3, store.UnitFailed: 1}, false, false, store.JobPartial},
		{"done and timed out", c{store.UnitDone: 3, store.UnitTimedOut: 1}, false, false, store.JobPartial},
		{"all failed", c{store.UnitFailed: 2}, false, false, store.JobFailed},
		{"failed and cancelled", c{store.UnitFailed: 1, store.UnitCancelled: 1}, false, false, store.JobFailed},
		{"all cancelled", c{store.UnitCancelled: 2}, false, false, store.JobCancelled},
		{"done and cancelled", c{store.UnitDone: 1, store.UnitCancelled: 1}, false, false, store.JobPartial},
		{"paused with work left", c{store.UnitPaused: 2, store.UnitDone: 1}, true, false, store.JobPaused},
		{"paused but nothing left", c{store.UnitDone: 2}, true, false, store.JobSucceeded},
		{"waiting", c{store.UnitBlocked: 2}, false, true, store.JobWaiting},
		{"waiting released", c{store.UnitQueued: 2}, false, true, store.JobQueued},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DeriveJobStatus(tc.counts, tc.paused, tc.waiting); got != tc.want {
				t.Errorf("DeriveJobStatus(%v, paused=%v, waiting=%v) = %s, want %s", tc.counts, tc.paused, tc.waiting, got, tc.want)
			}
		})
	}
}
