package engine

import "taskcenter/internal/store"

// PauseReason says why a job is paused, or why a job that did not run to its end ended. Dialects map
// these to their own codes (render: ARREARAGE_STOP, TIME_OUT_STOP, ...) instead of comparing strings.
type PauseReason string

// The reasons the engine and the dialects pause or end jobs for.
const (
	PauseUser    PauseReason = "user"    // a client stopped it
	PauseArrears PauseReason = "arrears" // its payer could not pay for finished units; see Sweep
	PauseTimeout PauseReason = "timeout" // it ran past its job time limit (JobSpec.JobTimeout)
	PauseTest    PauseReason = "test"    // its test units finished; the rest wait for a start
	// PausePendingTimeout ends (cancels) a job no worker started within its PendingTimeout.
	PausePendingTimeout PauseReason = "pending_timeout"
	// PauseDeleted ends (cancels) a job deleted while it ran.
	PauseDeleted PauseReason = "deleted"
)

// ReasonOf is why j is paused (or ended early); "" when it is not.
func ReasonOf(j store.Job) PauseReason { return PauseReason(j.PauseReason) }
