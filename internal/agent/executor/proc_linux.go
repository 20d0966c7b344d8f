package executor

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the command in its own process group and has the kernel kill it when the
// agent dies (even by SIGKILL, when no clean-up of ours runs). Its own children do not get that
// signal: the agent's next start kills what its records name (agent.Env.TrackGroup).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
