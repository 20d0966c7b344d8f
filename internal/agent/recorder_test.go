package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/unitspec"
)

func requireFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is not installed, and CI=true forbids skipping the recorder tests")
		}
		t.Skip("ffmpeg is not installed")
	}
}

// recorderSetup makes a short clip to record and a capture unit of it.
func recorderSetup(t *testing.T, id int64) (executor.Recorder, agentapi.Unit, unitspec.Recording) {
	requireFFmpeg(t)
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=orange:s=160x120:r=10",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, RecordID: "rec-1", Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 160, Height: 120, FrameRate: 10},
		SegmentSeconds: 1,
		Sources:        []unitspec.Source{{ID: "s", URL: clip}},
		Cells:          []unitspec.Cell{{Source: "s", W: 160, H: 120}},
		Audio:          []string{"s"},
	}
	raw, _ := json.Marshal(spec)
	u := agentapi.Unit{UnitID: id, JobID: 1, Epoch: 1, Capability: unitspec.CapRecorder, Name: "capture", Spec: raw, LeaseSeconds: 30}
	return executor.Recorder{FileRoot: dir}, u, spec
}

func recorderAgent(rec *executor.Recorder) func(*agent.Config) {
	return func(c *agent.Config) {
		c.Kind = "recorder"
		c.Executors = map[string]agent.Executor{unitspec.CapRecorder: rec}
		c.Cost, c.Capacity = executor.RecorderCost, 2
		c.Slots = 8
	}
}

// TestRecorderAgentCaptures runs a capture through the agent protocol: the recorder advertises its
// capability and ffmpeg's version, uploads segments while recording, reads the spec the server
// changes, and completes with the capture's result once the spec says stopped.
func TestRecorderAgentCaptures(t *testing.T) {
	rec, u, spec := recorderSetup(t, 41)
	s := newFakeServer(t)
	s.add(u)
	startAgent(t, s, "", recorderAgent(&rec))
	waitFor(t, 30*time.Second, "a first segment", func() bool {
		var ok bool
		s.with(func(s *fakeServer) { _, ok = s.outputs["41/"+unitspec.SegmentOutput(0)] })
		return ok
	})
	spec.Version, spec.Stopped = 2, true
	raw, _ := json.Marshal(spec)
	s.with(func(s *fakeServer) { s.specs[41] = raw })
	waitFor(t, 30*time.Second, "the completion", func() bool {
		var n int
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
	s.with(func(s *fakeServer) {
		var info struct {
			Software map[string]string `json:"software"`
			Capacity float64           `json:"capacity"`
		}
		_ = json.Unmarshal(s.registered[0].Info, &info)
		if !slices.Contains(s.registered[0].Capabilities, unitspec.CapRecorder) || info.Software["ffmpeg"] == "" ||
			s.registered[0].Kind != "recorder" || info.Capacity != 2 {
			t.Errorf("registration %+v", s.registered[0])
		}
		var res unitspec.CaptureResult
		if err := json.Unmarshal(s.completes[0].Result, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Segments) == 0 || res.MediaMillis <= 0 {
			t.Fatalf("result %+v", res)
		}
		for _, seg := range res.Segments {
			if _, ok := s.outputs["41/"+unitspec.SegmentOutput(seg.Index)]; !ok || seg.Hash == "" {
				t.Errorf("segment %+v has no output", seg)
			}
		}
		if len(s.fails) != 0 {
			t.Errorf("fails %+v", s.fails)
		}
	})
}

// TestRecorderAgentStopsAStaleCapture: once the unit-spec call answers 409 (the unit was leased
// again), the recorder stops without reporting anything.
func TestRecorderAgentStopsAStaleCapture(t *testing.T) {
	rec, u, _ := recorderSetup(t, 42)
	s := newFakeServer(t)
	s.add(u)
	startAgent(t, s, "", recorderAgent(&rec))
	waitFor(t, 30*time.Second, "a first segment", func() bool {
		var ok bool
		s.with(func(s *fakeServer) { _, ok = s.outputs["42/"+unitspec.SegmentOutput(0)] })
		return ok
	})
	s.with(func(s *fakeServer) { s.specStatus = 409 })
	waitFor(t, 30*time.Second, "the unit to stop", func() bool {
		var idle bool
		s.with(func(s *fakeServer) {
			if n := len(s.heartbeats); n > 0 {
				idle = len(s.heartbeats[n-1].Running) == 0
			}
		})
		return idle
	})
	s.with(func(s *fakeServer) {
		if len(s.completes) != 0 || len(s.fails) != 0 {
			t.Errorf("a stale capture reported: completes %v fails %v", s.completes, s.fails)
		}
	})
}

// blockingExecutor runs until released, counting how many of its units run at once.
type blockingExecutor struct {
	mu      sync.Mutex
	running int
	most    int
	release map[int64]chan struct{}
}

func (b *blockingExecutor) Run(ctx context.Context, u agentapi.Unit, env agent.Env) (agent.Result, error) {
	b.mu.Lock()
	b.running++
	b.most = max(b.most, b.running)
	ch := b.release[u.UnitID]
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	select {
	case <-ch:
		return agent.Result{}, nil
	case <-ctx.Done():
		return agent.Result{}, ctx.Err()
	}
}

// TestAgentAdmitsByCost: with a budget of one core and units costing 0.6, the second unit leased
// while the first runs is handed back, and runs once the first is done.
func TestAgentAdmitsByCost(t *testing.T) {
	b := &blockingExecutor{release: map[int64]chan struct{}{1: make(chan struct{}), 2: make(chan struct{})}}
	s := newFakeServer(t)
	unit := func(id int64) agentapi.Unit {
		return agentapi.Unit{UnitID: id, JobID: 1, Epoch: 1, Capability: "block", Name: "u", Spec: json.RawMessage(`{}`), LeaseSeconds: 30}
	}
	s.add(unit(1), unit(2))
	startAgent(t, s, "", func(c *agent.Config) {
		c.Executors = map[string]agent.Executor{"block": b}
		c.Cost = func(agentapi.Unit) float64 { return 0.6 }
		c.Capacity, c.Slots = 1, 10
	})
	waitFor(t, 10*time.Second, "unit 2 handed back", func() bool {
		var back bool
		s.with(func(s *fakeServer) { back = slices.Contains(s.released, agentapi.UnitRef{UnitID: 2, Epoch: 1}) })
		return back
	})
	var leases, beats int
	s.with(func(s *fakeServer) {
		s.queue = append(s.queue, unit(2)) // the server requeues it
		leases, beats = s.leaseCalls, len(s.heartbeats)
	})
	// While unit 1 runs the agent is full: two heartbeats later it has not asked for work again.
	waitFor(t, 10*time.Second, "two heartbeats", func() bool {
		var n int
		s.with(func(s *fakeServer) { n = len(s.heartbeats) })
		return n >= beats+2
	})
	s.with(func(s *fakeServer) {
		if len(s.queue) != 1 || s.leaseCalls != leases {
			t.Errorf("the agent leased while full: queue %d, lease calls %d then %d", len(s.queue), leases, s.leaseCalls)
		}
	})
	close(b.release[1])
	close(b.release[2])
	waitFor(t, 10*time.Second, "both units done", func() bool {
		var n int
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 2
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.most != 1 {
		t.Errorf("%d units ran at once within a budget for one", b.most)
	}
}
