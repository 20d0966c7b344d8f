package agent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/agent/executor"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/blendertest"
	"taskcenter/internal/imaging"
)

// TestAgentLargeLog: 600 KB of output reach the server whole, in chunks the protocol accepts (the
// fake server validates every request: a chunk over 256 KiB would be refused with 400).
func TestAgentLargeLog(t *testing.T) {
	s := newFakeServer(t)
	const size = 600_000
	s.add(shellUnit(t, 1, executor.ShellSpec{Command: []string{"sh", "-c", "head -c 600000 /dev/zero | tr '\\0' 'a'"}}))
	startAgent(t, s, "", nil)
	waitFor(t, 30*time.Second, "the completion", func() bool {
		n := 0
		s.with(func(s *fakeServer) { n = len(s.completes) })
		return n == 1
	})
	s.with(func(s *fakeServer) {
		var log strings.Builder
		for _, p := range s.progress[1] {
			if len(p.Log) > 256<<10 {
				t.Errorf("a log chunk of %d bytes", len(p.Log))
			}
			log.WriteString(p.Log)
		}
		if log.Len() != size || strings.Trim(log.String(), "a") != "" {
			t.Errorf("server got %d bytes of log, want %d", log.Len(), size)
		}
	})
}

// TestAgentRendersBlenderBlock runs a blender unit end to end: the scene comes from the server's
// blob store, the block image and thumbnail go back as outputs.
func TestAgentRendersBlenderBlock(t *testing.T) {
	blendertest.Require(t)
	scene, err := blendertest.Scene(t.Context(), t.TempDir(), blendertest.Options{Samples: 8})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(scene)
	if err != nil {
		t.Fatal(err)
	}
	s := newFakeServer(t)
	hash := s.putBlob(data)
	border := imaging.BlockBorders(4, imaging.SplitBlock)[0]
	spec, _ := json.Marshal(executor.BlenderSpec{Scene: hash, Frame: 3, Border: &border})
	s.add(agentapi.Unit{UnitID: 11, JobID: 2, Epoch: 1, Capability: "blender", Spec: spec, TimeoutSeconds: 120})
	startAgent(t, s, "", nil)
	var c agentapi.Completion
	waitFor(t, 60*time.Second, "the render's completion", func() bool {
		ok := false
		s.with(func(s *fakeServer) {
			if ok = len(s.completes) == 1; ok {
				c = s.completes[0]
			}
			for _, f := range s.fails {
				t.Fatalf("render failed: %+v", f)
			}
		})
		return ok
	})
	var res executor.BlenderResult
	if err := json.Unmarshal(c.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Width != 80 || res.Height != 60 || res.File != "frame_00003.png" || res.Border == nil {
		t.Errorf("result %s", c.Result)
	}
	s.with(func(s *fakeServer) {
		img, err := imaging.DecodePNG(bytes.NewReader(s.outputs["11/image"]))
		if err != nil {
			t.Fatalf("image output: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 80 || b.Dy() != 60 {
			t.Errorf("image is %v", b)
		}
		if len(s.outputs["11/thumbnail"]) == 0 {
			t.Error("no thumbnail output")
		}
		var last float64
		for _, p := range s.progress[11] {
			last = p.Progress
		}
		if last != 100 {
			t.Errorf("last progress %v", last)
		}
	})
}
