package engine

import (
	"fmt"
	"slices"

	"taskcenter/internal/store"
)

// UnitEvent is something that happens to a unit.
type UnitEvent string

const (
	UnitLease    UnitEvent = "lease"    // a worker takes it
	UnitComplete UnitEvent = "complete" // its worker reports it done
	UnitRetry    UnitEvent = "retry"    // an attempt failed and attempts remain
	UnitFail     UnitEvent = "fail"     // an attempt failed and none remain
	UnitTimeout  UnitEvent = "timeout"  // it ran past its time limit
	UnitExpire   UnitEvent = "expire"   // its worker stopped heartbeating
	UnitRelease  UnitEvent = "release"  // its worker handed it back on shutdown
	UnitPause    UnitEvent = "pause"    // its job was paused or stopped
	UnitResume   UnitEvent = "resume"   // its job was resumed
	UnitAbort    UnitEvent = "abort"    // its job was aborted
	UnitRestart  UnitEvent = "restart"  // a user asked to run it again
	UnitUnblock  UnitEvent = "unblock"  // the job its job waited for finished
)

// unitTransitions is the unit state machine. A pair that is absent is refused.
var unitTransitions = map[store.UnitStatus]map[UnitEvent]store.UnitStatus{
	// A blocked unit stays blocked through pause and resume: it waits for another job, not for a user.
	store.UnitBlocked: {
		UnitUnblock: store.UnitQueued,
		UnitAbort:   store.UnitCancelled,
	},
	store.UnitQueued: {
		UnitLease: store.UnitRunning,
		UnitPause: store.UnitPaused,
		UnitAbort: store.UnitCancelled,
	},
	store.UnitRunning: {
		UnitComplete: store.UnitDone,
		UnitRetry:    store.UnitQueued,
		UnitFail:     store.UnitFailed,
		UnitTimeout:  store.UnitTimedOut,
		UnitExpire:   store.UnitQueued,
		UnitRelease:  store.UnitQueued,
		UnitPause:    store.UnitPaused,
		UnitAbort:    store.UnitCancelled,
		UnitRestart:  store.UnitQueued,
	},
	store.UnitPaused: {
		UnitResume: store.UnitQueued,
		UnitAbort:  store.UnitCancelled,
		// Restarting a frame of a stopped task queues it: the user asked for that frame explicitly.
		UnitRestart: store.UnitQueued,
	},
	store.UnitDone: {
		UnitRestart: store.UnitQueued,
	},
	store.UnitFailed: {
		UnitRestart: store.UnitQueued,
	},
	store.UnitTimedOut: {
		UnitRestart: store.UnitQueued,
	},
	store.UnitCancelled: {
		UnitRestart: store.UnitQueued,
	},
}

// NextUnitStatus returns where ev takes a unit in status from, or an error when the machine refuses it.
func NextUnitStatus(from store.UnitStatus, ev UnitEvent) (store.UnitStatus, error) {
	if to, ok := unitTransitions[from][ev]; ok {
		return to, nil
	}
	return "", fmt.Errorf("unit %s cannot %s", from, ev)
}

// unitStatusesFor lists the statuses from which ev is allowed, to select the units a bulk action moves.
func unitStatusesFor(ev UnitEvent) []store.UnitStatus {
	var out []store.UnitStatus
	for from, evs := range unitTransitions {
		if _, ok := evs[ev]; ok {
			out = append(out, from)
		}
	}
	slices.Sort(out)
	return out
}

// JobEvent is a control action on a job.
type JobEvent string

const (
	JobPause   JobEvent = "pause"
	JobResume  JobEvent = "resume"
	JobAbort   JobEvent = "abort"
	JobRestart JobEvent = "restart" // restart failed or chosen units
)

// jobTransitions is the job state machine for control actions. Where the target is empty the job's
// status is derived from its units after the action.
var jobTransitions = map[store.JobStatus]map[JobEvent]store.JobStatus{
	store.JobWaiting:   {JobPause: store.JobPaused, JobAbort: store.JobCancelled},
	store.JobQueued:    {JobPause: store.JobPaused, JobAbort: store.JobCancelled, JobRestart: ""},
	store.JobRunning:   {JobPause: store.JobPaused, JobAbort: store.JobCancelled, JobRestart: ""},
	store.JobPaused:    {JobResume: "", JobAbort: store.JobCancelled, JobRestart: store.JobPaused},
	store.JobSucceeded: {JobRestart: ""},
	store.JobPartial:   {JobRestart: ""},
	store.JobFailed:    {JobRestart: ""},
	store.JobCancelled: {JobRestart: ""},
}

// NextJobStatus returns the job's status after ev ("" meaning: derive it from the units), or an error
// when the machine refuses the action.
func NextJobStatus(from store.JobStatus, ev JobEvent) (store.JobStatus, error) {
	if to, ok := jobTransitions[from][ev]; ok {
		return to, nil
	}
	return "", fmt.Errorf("job %s cannot %s", from, ev)
}

// DeriveJobStatus computes a job's status from its units' counts. paused tells whether a control action
// holds the job; waiting whether it waits for another job.
func DeriveJobStatus(counts map[store.UnitStatus]int, paused, waiting bool) store.JobStatus {
	total := 0
	for _, n := range counts {
		total += n
	}
	unfinished := counts[store.UnitQueued] + counts[store.UnitRunning] + counts[store.UnitPaused] + counts[store.UnitBlocked]
	switch {
	case waiting && counts[store.UnitBlocked] > 0:
		return store.JobWaiting
	case paused && unfinished > 0:
		return store.JobPaused
	case total == 0:
		return store.JobQueued
	case unfinished > 0:
		if counts[store.UnitRunning] > 0 || total > unfinished {
			return store.JobRunning
		}
		return store.JobQueued
	case counts[store.UnitDone] == total:
		return store.JobSucceeded
	case counts[store.UnitCancelled] > 0 && counts[store.UnitDone] == 0 &&
		counts[store.UnitFailed]+counts[store.UnitTimedOut] == 0:
		return store.JobCancelled
	case counts[store.UnitDone] > 0:
		return store.JobPartial
	default:
		return store.JobFailed
	}
}
