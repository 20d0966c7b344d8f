package agent_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/agentapi"
)

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type runningAgent struct {
	cancel  context.CancelFunc
	done    chan error
	workDir string
	once    sync.Once
}

// startAgent runs an agent against s with fast timings; it is stopped at the end of the test.
func startAgent(t *testing.T, s *fakeServer, workDir string, mutate func(*agent.Config)) *runningAgent {
	t.Helper()
	if workDir == "" {
		workDir = t.TempDir()
	}
	cfg := agent.Config{
		ServerURL:        s.URL(),
		Token:            s.enroll,
		Name:             "test-agent",
		WorkDir:          workDir,
		Executors:        executor.Defaults(),
		BackoffMin:       20 * time.Millisecond,
		BackoffMax:       200 * time.Millisecond,
		ProgressInterval: 50 * time.Millisecond,
		LeaseWaitSeconds: 1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan error, 1), workDir: workDir}
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { a.done <- agent.Run(ctx, cfg, log) }()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop cancels the agent and waits for Run to return.
func (a *runningAgent) stop(t *testing.T) {
	t.Helper()
	a.once.Do(func() {
		a.cancel()
		select {
		case err := <-a.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after cancellation")
		}
	})
}

func shellUnit(t *testing.T, id int64, spec executor.ShellSpec) agentapi.Unit {
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return agentapi.Unit{UnitID: id, JobID: 100, Epoch: 1, Attempt: 1, Capability: "shell", Name: "u", Spec: raw, LeaseSeconds: 30}
}

func outboxFiles(t *testing.T, workDir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(workDir, "outbox", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAgentRunsShellUnit(t *testing.T) {
	s := newFakeServer(t)
	s.add(shellUnit(t, 1, executor.ShellSpec{
		Command: []string{"sh", "-c", "echo rendering frame {{frame}}; mkdir -p out; printf data > out/f{{frame}}.txt"},
		Vars:    map[string]string{"frame": "7"},
		Outputs: []string{"out/f{{frame}}.txt"},
	}))
	a := startAgent(t, s, "", nil)
	var c agentapi.Completion
	waitFor(t, 30*time.Second, "the completion", func() bool {
		var ok bool
		s.with(func(s *fakeServer) {
			if ok = len(s.completes) > 0; ok {
				c = s.completes[0]
			}
		})
		return ok
	})
	if c.UnitID != 1 || c.Epoch != 1 || c.Seconds <= 0 {
		t.Errorf("completion %+v", c)
	}
	var res executor.ShellResult
	if err := json.Unmarshal(c.Result, &res); err != nil {
		t.Fatalf("result %s: %v", c.Result, err)
	}
	if res.Outputs["out_f7.txt"].Size != 4 {
		t.Errorf("result %s lacks the output", c.Result)
	}
	s.with(func(s *fakeServer) {
		if string(s.outputs["1/out_f7.txt"]) != "data" {
			t.Errorf("outputs %v", s.outputs)
		}
		var log strings.Builder
		for _, p := range s.progress[1] {
			log.WriteString(p.Log)
		}
		if !strings.Contains(log.String(), "rendering frame 7") {
			t.Errorf("log %q lacks the command's output", log.String())
		}
		// Registration advertised the executors whose software is present.
		if s.registers != 1 {
			t.Errorf("%d registrations", s.registers)
		}
	})
	waitFor(t, 30*time.Second, "an empty outbox", func() bool { return len(outboxFiles(t, a.workDir)) == 0 })
}

func TestAgentReportsFailure(t *testing.T) {
	s := newFakeServer(t)
	s.add(shellUnit(t, 2, executor.ShellSpec{Command: []string{"sh", "-c", "echo bad input >&2; exit 4"}}))
	s.add(shellUnit(t, 3, executor.ShellSpec{Command: []string{"echo", "{{undefined}}"}}))
	startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "two failures", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.fails) })
		return n == 2
	})
	s.with(func(s *fakeServer) {
		slices.SortFunc(s.fails, func(a, b agentapi.FailRequest) int { return int(a.UnitID - b.UnitID) })
		if f := s.fails[0]; f.ExitCode != 4 || f.Permanent || !strings.Contains(f.Error, "bad input") {
			t.Errorf("failure of unit 2: %+v", f)
		}
		if f := s.fails[1]; !f.Permanent || !strings.Contains(f.Error, "undefined") {
			t.Errorf("failure of unit 3: %+v", f)
		}
	})
}

func TestAgentStaleProgressCancelsUnit(t *testing.T) {
	s := newFakeServer(t)
	s.onProgress = func(p agentapi.ProgressRequest) int {
		if p.UnitID == 1 {
			return http.StatusConflict
		}
		return http.StatusOK
	}
	s.add(shellUnit(t, 1, executor.ShellSpec{Command: []string{"sh", "-c", "echo started; sleep 30"}}))
	start := time.Now()
	startAgent(t, s, "", nil)
	// The slot frees once the unit is killed: the next unit runs and completes.
	s.add(shellUnit(t, 2, executor.ShellSpec{Command: []string{"true"}}))
	waitFor(t, 30*time.Second, "unit 2's completion", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n > 0
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("unit 1 was not stopped promptly (%v)", d)
	}
	time.Sleep(200 * time.Millisecond)
	s.with(func(s *fakeServer) {
		for _, c := range s.completes {
			if c.UnitID == 1 {
				t.Error("the stale unit was completed")
			}
		}
		for _, f := range s.fails {
			if f.UnitID == 1 {
				t.Errorf("the stale unit was failed: %+v", f)
			}
		}
	})
}

func TestAgentHeartbeatCancel(t *testing.T) {
	s := newFakeServer(t)
	s.onHeartbeat = func(req agentapi.HeartbeatRequest) []agentapi.UnitRef {
		return slices.DeleteFunc(slices.Clone(req.Running), func(r agentapi.UnitRef) bool { return r.UnitID != 5 })
	}
	s.add(shellUnit(t, 5, executor.ShellSpec{Command: []string{"sleep", "30"}}))
	startAgent(t, s, "", nil)
	s.add(shellUnit(t, 6, executor.ShellSpec{Command: []string{"true"}}))
	waitFor(t, 30*time.Second, "unit 6's completion after unit 5 was cancelled", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n > 0
	})
	s.with(func(s *fakeServer) {
		if len(s.fails) != 0 || s.completes[0].UnitID != 6 {
			t.Errorf("reports after cancel: completes %+v fails %+v", s.completes, s.fails)
		}
	})
}

func TestAgentOutboxRetriesAfter503(t *testing.T) {
	s := newFakeServer(t)
	s.onComplete = func(call int) int {
		if call == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	s.add(shellUnit(t, 1, executor.ShellSpec{Command: []string{"true"}}))
	a := startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "the resent completion", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
	waitFor(t, 30*time.Second, "an empty outbox", func() bool { return len(outboxFiles(t, a.workDir)) == 0 })
	s.with(func(s *fakeServer) {
		if s.completeCalls != 2 {
			t.Errorf("%d complete calls, want 2 (one 503, one ok)", s.completeCalls)
		}
	})
}

// TestAgentOutboxSurvivesRestart: a completion the server never took is sent by the next agent
// process on the same work dir, to a server that was restarted meanwhile.
func TestAgentOutboxSurvivesRestart(t *testing.T) {
	down := newFakeServer(t)
	down.onComplete = func(int) int { return http.StatusServiceUnavailable }
	down.add(shellUnit(t, 9, executor.ShellSpec{Command: []string{"echo", "done"}}))
	workDir := t.TempDir()
	first := startAgent(t, down, workDir, nil)
	waitFor(t, 30*time.Second, "a refused completion", func() bool {
		n := 0
		down.with(func(s *fakeServer) { n = s.completeCalls })
		return n >= 1
	})
	first.stop(t)
	files := outboxFiles(t, workDir)
	if len(files) != 1 {
		t.Fatalf("outbox holds %v after the first agent stopped, want one report", files)
	}
	var r agent.Report
	if data, err := os.ReadFile(files[0]); err != nil || json.Unmarshal(data, &r) != nil || r.Complete == nil || r.Complete.UnitID != 9 {
		t.Fatalf("outbox report %+v, %v", r, err)
	}

	up := newFakeServer(t)
	startAgent(t, up, workDir, nil)
	waitFor(t, 30*time.Second, "the completion from the outbox", func() bool {
		n := 0
		up.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
	up.with(func(s *fakeServer) {
		if c := s.completes[0]; c.UnitID != 9 || c.Epoch != 1 {
			t.Errorf("completion %+v", c)
		}
	})
	waitFor(t, 30*time.Second, "an empty outbox", func() bool { return len(outboxFiles(t, workDir)) == 0 })
}

func TestAgentReleasesOnShutdown(t *testing.T) {
	s := newFakeServer(t)
	s.add(shellUnit(t, 4, executor.ShellSpec{Command: []string{"sh", "-c", "echo started; sleep 30"}}))
	a := startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "the unit to start", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.progress[4]) })
		return n > 0
	})
	start := time.Now()
	a.stop(t)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	s.with(func(s *fakeServer) {
		if len(s.released) != 1 || s.released[0] != (agentapi.UnitRef{UnitID: 4, Epoch: 1}) {
			t.Errorf("released %+v, want unit 4 epoch 1", s.released)
		}
		if len(s.completes)+len(s.fails) != 0 {
			t.Errorf("a released unit was reported: %+v %+v", s.completes, s.fails)
		}
	})
}

func TestAgentReRegistersOn401(t *testing.T) {
	s := newFakeServer(t)
	startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "registration", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = s.registers })
		return n == 1
	})
	s.revoke()
	s.add(shellUnit(t, 1, executor.ShellSpec{Command: []string{"true"}}))
	waitFor(t, 30*time.Second, "the completion under the new token", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
	s.with(func(s *fakeServer) {
		if s.registers != 2 {
			t.Errorf("%d registrations, want 2", s.registers)
		}
	})
}

func TestAgentWaitsForServer(t *testing.T) {
	s := newFakeServer(t)
	s.onLease = func(call int) int {
		if call <= 3 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	}
	s.add(shellUnit(t, 1, executor.ShellSpec{Command: []string{"true"}}))
	startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "the completion after the server recovered", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
}

// inputExecutor reads a blob twice through Env.Input, as the blender executor reads its scene.
type inputExecutor struct{ hash string }

func (e inputExecutor) Run(ctx context.Context, u agentapi.Unit, env agent.Env) (agent.Result, error) {
	var data []byte
	for range 2 {
		path, err := env.Input(ctx, e.hash)
		if err != nil {
			return agent.Result{}, err
		}
		if data, err = os.ReadFile(path); err != nil {
			return agent.Result{}, err
		}
	}
	return agent.Result{Data: map[string]string{"content": string(data)}}, nil
}

func TestAgentInputCache(t *testing.T) {
	s := newFakeServer(t)
	hash := s.putBlob([]byte("scene bytes"))
	s.add(agentapi.Unit{UnitID: 1, Epoch: 1, Capability: "input"}, agentapi.Unit{UnitID: 2, Epoch: 1, Capability: "input"})
	startAgent(t, s, "", func(c *agent.Config) {
		c.Executors = map[string]agent.Executor{"input": inputExecutor{hash: hash}}
	})
	waitFor(t, 30*time.Second, "two completions", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 2
	})
	s.with(func(s *fakeServer) {
		if s.blobGets != 1 {
			t.Errorf("the blob was downloaded %d times, want once", s.blobGets)
		}
		if got := string(s.completes[0].Result); got != `{"content":"scene bytes"}` {
			t.Errorf("result %s", got)
		}
	})
}

// TestAgentInputCacheAsksServer: a cached input is handed to a unit only when the server still grants
// that blob to this worker; a unit the server refuses it to fails (as a download the server refuses
// does) instead of reading the copy another unit downloaded.
func TestAgentInputCacheAsksServer(t *testing.T) {
	s := newFakeServer(t)
	hash := s.putBlob([]byte("scene bytes"))
	s.add(agentapi.Unit{UnitID: 1, Epoch: 1, Capability: "input"})
	startAgent(t, s, "", func(c *agent.Config) {
		c.Executors = map[string]agent.Executor{"input": inputExecutor{hash: hash}}
	})
	waitFor(t, 30*time.Second, "the first completion", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
	s.with(func(s *fakeServer) { delete(s.blobs, hash) }) // the server no longer grants it
	s.add(agentapi.Unit{UnitID: 2, Epoch: 1, Capability: "input"})
	waitFor(t, 30*time.Second, "the refused unit's failure", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.fails) })
		return n == 1
	})
	s.with(func(s *fakeServer) {
		if f := s.fails[0]; f.UnitID != 2 || !strings.Contains(f.Error, "404") || len(s.completes) != 1 {
			t.Errorf("failure %+v, completions %d", f, len(s.completes))
		}
	})
}

func TestAgentInputCorrupt(t *testing.T) {
	s := newFakeServer(t)
	hash := s.putBlob([]byte("scene bytes"))
	s.with(func(s *fakeServer) { s.blobs[hash] = []byte("tampered") })
	s.add(agentapi.Unit{UnitID: 1, Epoch: 1, Capability: "input"})
	startAgent(t, s, "", func(c *agent.Config) {
		c.Executors = map[string]agent.Executor{"input": inputExecutor{hash: hash}}
	})
	waitFor(t, 30*time.Second, "the failure", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.fails) })
		return n == 1
	})
	s.with(func(s *fakeServer) {
		if !strings.Contains(s.fails[0].Error, "sha256") {
			t.Errorf("failure %+v", s.fails[0])
		}
	})
}

func TestAgentUnitTimeout(t *testing.T) {
	s := newFakeServer(t)
	u := shellUnit(t, 1, executor.ShellSpec{Command: []string{"sleep", "30"}})
	u.TimeoutSeconds = 1
	s.add(u)
	startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "the timeout failure", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.fails) })
		return n == 1
	})
	s.with(func(s *fakeServer) {
		if f := s.fails[0]; !strings.Contains(f.Error, "timed out after 1s") || f.Permanent || f.Seconds < 1 {
			t.Errorf("failure %+v", f)
		}
	})
}

// TestAgentSlots: with two slots, two units run at the same time (each waits until both started).
func TestAgentSlots(t *testing.T) {
	s := newFakeServer(t)
	meet := t.TempDir()
	for id := int64(1); id <= 2; id++ {
		s.add(shellUnit(t, id, executor.ShellSpec{
			Command: []string{"sh", "-c", `touch "$MEET/{{unit_id}}"; while [ "$(ls "$MEET" | wc -l)" -lt 2 ]; do sleep 0.02; done`},
			Env:     map[string]string{"MEET": meet},
		}))
	}
	startAgent(t, s, "", func(c *agent.Config) { c.Slots = 2 })
	waitFor(t, 30*time.Second, "both units to complete together", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 2
	})
}
