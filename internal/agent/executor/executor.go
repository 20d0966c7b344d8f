// Package executor owns the agent's executors: shell (run a program with substituted arguments),
// blender (render one frame, or one border block of a frame, headless), rpa, and recorder (compose a
// recording's live sources with ffmpeg into uploaded segments, and join them into slices). Each
// implements agent.Executor and documents the unit spec it accepts.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"taskcenter/internal/agent"
)

// Defaults returns the executors of a standard agent, keyed by capability: "shell", "blender", and
// "ffmpeg" (shell units whose program must be ffmpeg). The agent advertises blender and ffmpeg only
// where the program is installed.
func Defaults() map[string]agent.Executor {
	return map[string]agent.Executor{
		"shell":   &Shell{},
		"ffmpeg":  &Shell{Program: "ffmpeg"},
		"blender": &Blender{},
	}
}

// decodeSpec reads a unit spec strictly: an unknown field is a typo the user should hear about.
func decodeSpec(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return agent.Permanent(errors.New("the unit has no spec"))
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return agent.Permanent(fmt.Errorf("bad spec: %w", err))
	}
	return nil
}

// logWriter forwards a process's output to the unit log in chunks: each Write becomes one Progress
// call, which only buffers (the agent sends in the background).
type logWriter struct {
	env  agent.Env
	tail []byte // the last bytes, for the failure message
	// line, when set, sees each complete line (progress parsing).
	line    func(string)
	partial []byte
}

const (
	tailBytes = 2 << 10
	maxLine   = 64 << 10
)

func (w *logWriter) Write(p []byte) (int, error) {
	w.env.Progress(-1, string(p))
	w.tail = append(w.tail, p...)
	if len(w.tail) > 2*tailBytes {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-tailBytes:]...)
	}
	if w.line != nil {
		w.partial = append(w.partial, p...)
		for {
			i := strings.IndexAny(string(w.partial), "\r\n")
			if i < 0 {
				break
			}
			w.line(string(w.partial[:i]))
			w.partial = w.partial[i+1:]
		}
		if len(w.partial) > maxLine { // no progress line is this long: do not hoard a binary blob
			w.partial = w.partial[:0]
		}
	}
	return len(p), nil
}

// Tail returns the last output lines, for error messages.
func (w *logWriter) Tail() string {
	t := w.tail
	if len(t) > tailBytes {
		t = t[len(t)-tailBytes:]
	}
	return strings.TrimSpace(string(t))
}

var _ io.Writer = (*logWriter)(nil)

// command prepares cmd to run in its own process group and, on cancellation, to get SIGTERM for the
// whole group and SIGKILL after grace: renderers and scripts spawn children that must not outlive
// the unit. On Linux the group's leader also gets SIGKILL when the agent dies; run it with run.
func command(ctx context.Context, grace time.Duration, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return terminate(cmd) }
	cmd.WaitDelay = grace
	return cmd
}

// run runs cmd (made by command) to its end, with its process group recorded in env while it runs,
// and kills what is left of the group once its leader exits.
func run(cmd *exec.Cmd, env agent.Env) error {
	// Linux sends the parent-death signal when the thread that started the child exits, not the
	// process (golang/go#27505), and the runtime ends a thread whose goroutine exits locked to it:
	// keep this goroutine on its thread until the child is reaped, so no other can take the thread
	// and end it under the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	untrack := env.TrackGroup(cmd.Process.Pid)
	err := cmd.Wait()
	killGroup(cmd)
	untrack()
	return err
}

// exitFailure turns a finished command's error into an agent.Failure with its exit code and the
// end of its output.
func exitFailure(what string, err error, tail string) error {
	var ee *exec.ExitError
	code := -1
	if errors.As(err, &ee) {
		code = ee.ExitCode() // -1 when killed by a signal
	}
	msg := fmt.Sprintf("%s: %v", what, err)
	if tail != "" {
		msg += "\n" + tail
	}
	return &agent.Failure{Err: errors.New(msg), ExitCode: code}
}

// environ is the process environment plus extra, which wins.
func environ(extra map[string]string) []string {
	env := os.Environ()
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
