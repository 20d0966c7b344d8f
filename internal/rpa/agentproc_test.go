package rpa

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// TestRobotAgentProcess runs the real `taskcenter agent --kind robot` process: it registers with the
// machine code given on its command line, runs a released process once licensed, and stops cleanly.
// One driver suffices: the store is the server's business, the subject here is the command.
func TestRobotAgentProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the taskcenter binary")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for the process script")
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "taskcenter")
	build := exec.Command("go", "build", "-o", bin, "./cmd/taskcenter")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	l := newLive(t, sqlite.OpenTest(t))
	ctx := l.ctx
	token, _, err := auth.IssueToken(ctx, l.st, l.account, store.CredAgent, "robots", time.Now())
	must(t, err)
	var logs bytes.Buffer
	agent := exec.Command(bin, "agent", "--kind", "robot", "--name", "bot7", "--server", l.url, "--token", token,
		"--work-dir", t.TempDir(), "--machine-code", "MC-0007", "--log-level", "debug")
	agent.Stdout, agent.Stderr = &logs, &logs
	must(t, agent.Start())
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	t.Cleanup(func() {
		_ = agent.Process.Kill()
		<-exited
	})

	var robot map[string]any
	waitFor(t, "the robot process to register", func() bool {
		var p Page[map[string]any]
		must(t, l.admin.Get(ctx, "/oapi/v1/robot", url.Values{"tx": {"bot7"}}, &p))
		if p.Total == 1 {
			robot = p.Items[0]
		}
		return robot != nil
	})
	if robot["agentDcode"] != "MC-0007" || robot["agentVersion"] != "dev" || robot["agentType"] != "robot" {
		t.Fatalf("registered robot %+v", robot)
	}
	must(t, l.admin.Send(ctx, "POST", "/oapi/v1/robot/licence", map[string]any{"id": robot["id"]}, nil))
	var pub struct {
		ProcessID int64 `json:"processId"`
	}
	must(t, l.admin.Upload(ctx, "/oapi/v1/process/publish", url.Values{"workStatus": {"release"}}, "file", "ctl.ipkg",
		pkgZip(t, Manifest{ProcCode: "ctl", Version: "1", Entry: "python3 ctl.py"}, map[string]string{"ctl.py": ctlPy}), &pub))
	var sch, job struct{ ID int64 }
	must(t, l.admin.Send(ctx, "POST", "/oapi/v1/schedule", map[string]any{"schName": "once", "procCode": "ctl",
		"scheduleExpre": "0 0 3 * * ?", "execRobotsNo": "bot7"}, &sch))
	must(t, l.admin.Send(ctx, "POST", "/oapi/v1/job/create", map[string]any{"id": sch.ID}, &job))
	waitFor(t, "the job to succeed on the robot process", func() bool {
		var p Page[map[string]any]
		must(t, l.admin.Get(ctx, "/oapi/v1/job", url.Values{"id": {idString(pub.ProcessID)}}, &p))
		return p.Total == 1 && p.Items[0]["STATUS"] == "success" && p.Items[0]["CURR_ROBOT_NO"] == "bot7"
	})
	units, _, err := l.st.ListUnits(ctx, store.UnitFilter{JobID: job.ID})
	must(t, err)
	if !bytes.Contains([]byte(units[0].Log), []byte("ctl ok done on attempt 1")) {
		t.Fatalf("unit log:\n%s\nagent log:\n%s", units[0].Log, logs.String())
	}
	// SIGTERM: the agent stops and exits 0.
	must(t, agent.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("agent exit: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the agent did not stop on SIGTERM:\n%s", logs.String())
	}
	_ = os.Remove(bin)
}
