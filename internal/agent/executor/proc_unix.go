//go:build unix

package executor

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// terminate sends SIGTERM to the command's process group; exec's WaitDelay then kills the group
// leader if it does not exit, and the group with it below.
func terminate(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// killGroup makes sure no child of the command survives it.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
