package agent

import (
	"context"
	"errors"
	"fmt"

	"taskcenter/internal/agentapi"
)

// Executor runs one unit of the capability it is registered for (Config.Executors). Run blocks until
// the unit is done; it must return promptly once ctx is cancelled (lease lost, unit cancelled by the
// server, timeout, agent shutdown), killing whatever it started.
type Executor interface {
	Run(ctx context.Context, u agentapi.Unit, env Env) (Result, error)
}

// Env is what the agent lends an executor for one unit.
type Env interface {
	// Progress records progress in percent (0..100; negative leaves it unchanged) and appends log
	// text. It never blocks on the network: reports are coalesced and sent in the background.
	Progress(percent float64, log string)
	// Upload streams the file at path to the server as the unit's output name.
	Upload(ctx context.Context, name, path string) (agentapi.OutputResponse, error)
	// Input returns the local path of the blob with the given hash, downloading it into the agent's
	// cache on first use. The file is shared: executors must not modify it.
	Input(ctx context.Context, hash string) (string, error)
	// Dir is the unit's scratch directory: empty at start, removed once the unit is reported.
	Dir() string
	// TrackGroup records the process group an executor started (pid is its leader, started with
	// Setpgid), so that the next start of the agent kills what is left of it if this agent dies
	// without stopping it (kill -9, crash). untrack drops the record once the group is reaped.
	TrackGroup(pid int) (untrack func())
}

// Result is what a successful unit produced; Data (any JSON-marshalable value) is sent as the
// completion's result.
type Result struct {
	Data any
}

// Failure is the error an executor returns to say how the unit failed. Any other error is reported
// as a retryable failure with exit code 0.
type Failure struct {
	Err       error
	ExitCode  int
	Permanent bool // the input itself is bad: retrying cannot help
}

func (f *Failure) Error() string {
	if f.ExitCode != 0 {
		return fmt.Sprintf("%v (exit code %d)", f.Err, f.ExitCode)
	}
	return f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Permanent wraps err as a failure that must not be retried (bad spec, missing scene, ...).
func Permanent(err error) error {
	return &Failure{Err: err, Permanent: true}
}

// failureOf extracts exit code and permanence from an executor's error.
func failureOf(err error) (exitCode int, permanent bool) {
	var f *Failure
	if errors.As(err, &f) {
		return f.ExitCode, f.Permanent
	}
	return 0, false
}

// SpecReader is what the agent's Env also offers: the current spec of the running unit and the
// outputs it already has (agentapi.PathUnitSpec), for units whose spec changes while they run
// (recorder captures). A 409 answer (the unit is no longer this agent's) also stops the unit.
type SpecReader interface {
	UnitSpec(ctx context.Context) (agentapi.UnitSpecResponse, error)
}
