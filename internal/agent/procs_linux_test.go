package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/agent/executor"
)

// alive reports whether pid is a live process (a zombie is not: it runs nothing any more and waits
// only for a parent that may never reap it).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// readPid waits for a pid file the unit writes (by rename, so it is whole when it appears).
func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 30*time.Second, path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

// startHelperAgent runs an agent as a process of its own, against s, in workDir.
func startHelperAgent(t *testing.T, s *fakeServer, workDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperAgentEnv+"="+s.URL(), helperWorkDirEnv+"="+workDir)
	cmd.Stderr = testLogWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestAgentKilledTakesItsProcesses: an agent killed with -9 while a shell unit runs takes the
// unit's process with it (parent-death signal), and the next agent started in the same work
// directory kills what the unit's process had started itself (a grandchild, which the signal does
// not reach), so that nothing of the unit keeps running beside its next lease elsewhere.
func TestAgentKilledTakesItsProcesses(t *testing.T) {
	marks := t.TempDir()
	script := `set -e
(sleep 300; echo late > ` + marks + `/marker) &
echo $! > ` + marks + `/gc.tmp; mv ` + marks + `/gc.tmp ` + marks + `/grandchild.pid
echo $$ > ` + marks + `/c.tmp; mv ` + marks + `/c.tmp ` + marks + `/child.pid
sleep 300
echo late > ` + marks + `/marker`
	s := newFakeServer(t)
	s.add(shellUnit(t, 1, executor.ShellSpec{Command: []string{"sh", "-c", script}}))
	workDir := t.TempDir()

	first := startHelperAgent(t, s, workDir)
	child := readPid(t, filepath.Join(marks, "child.pid"))
	grandchild := readPid(t, filepath.Join(marks, "grandchild.pid"))
	t.Cleanup(func() { _ = syscall.Kill(-child, syscall.SIGKILL) }) // the unit's group, whatever happens
	waitFor(t, 10*time.Second, "the agent's record of the unit's process group", func() bool {
		_, err := os.Stat(filepath.Join(workDir, "procs", strconv.Itoa(child)+".json"))
		return err == nil
	})

	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	waitFor(t, 10*time.Second, "the unit's process to die with its agent", func() bool { return !alive(child) })
	if !alive(grandchild) {
		t.Log("the grandchild died with the agent too; the restart below has nothing left to kill")
	}

	startHelperAgent(t, s, workDir)
	waitFor(t, 10*time.Second, "the next agent to kill the unit's grandchild", func() bool { return !alive(grandchild) })
	waitFor(t, 10*time.Second, "the next agent to drop the record", func() bool {
		m, _ := filepath.Glob(filepath.Join(workDir, "procs", "*"))
		return len(m) == 0
	})
	if _, err := os.Stat(filepath.Join(marks, "marker")); err == nil {
		t.Error("a process of the unit wrote its marker")
	}
}
