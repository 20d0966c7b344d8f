package testutil

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Restarting is a program a test runs in the background and starts again each time it exits, until
// Kill: ffmpeg's listen modes serve one client per run, and a real media server lets a client
// connect again, also after a failed attempt on a loaded machine. Start brings it back after Kill,
// as a stream that drops and comes back.
type Restarting struct {
	t    testing.TB
	name string
	args []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped bool
	done    chan struct{}
}

// StartRestarting runs name with args until the test ends or Kill.
func StartRestarting(t testing.TB, name string, args ...string) *Restarting {
	r := &Restarting{t: t, name: name, args: args}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Start runs the program (again, after Kill).
func (r *Restarting) Start() {
	r.mu.Lock()
	r.stopped = false
	r.done = make(chan struct{})
	r.mu.Unlock()
	go r.loop(r.done)
}

func (r *Restarting) loop(done chan struct{}) {
	defer close(done)
	for {
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			return
		}
		cmd := exec.Command(r.name, r.args...)
		err := cmd.Start()
		if err == nil {
			r.cmd = cmd
		}
		r.mu.Unlock()
		if err != nil {
			r.t.Errorf("start %s: %v", r.name, err)
			return
		}
		_ = cmd.Wait()
		select {
		case <-time.After(100 * time.Millisecond): // a program that cannot start must not spin
		case <-r.t.Context().Done():
			return
		}
	}
}

// Kill stops the program for good (until Start) and waits for it to exit.
func (r *Restarting) Kill() {
	r.mu.Lock()
	r.stopped = true
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
	if done != nil {
		<-done
	}
}

// Signal sends sig to the running process.
func (r *Restarting) Signal(sig os.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return errors.New("not running")
	}
	return r.cmd.Process.Signal(sig)
}
