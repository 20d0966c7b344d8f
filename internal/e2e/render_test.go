package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/blendertest"
	"taskcenter/internal/engine"
	"taskcenter/internal/imaging"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// TestRealBlenderRender renders a generated 4-frame scene with Blender on two agents: every frame becomes a
// PNG of the scene's size in the blob store, and frame 1 rendered again as 4 blocks stitches into an
// image of the same size.
func TestRealBlenderRender(t *testing.T) {
	blendertest.Require(t)
	ctx := context.Background()
	const w, h = 160, 120
	scenePath, err := blendertest.Scene(ctx, t.TempDir(), blendertest.Options{Width: w, Height: h, Frames: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, sqlite.OpenTest(t), engine.Config{}, nil)
	f, err := os.Open(scenePath)
	if err != nil {
		t.Fatal(err)
	}
	scene, err := s.blobs.Put(ctx, f, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// As an upload through the native API would: the account's workers may fetch only its own blobs.
	if err := s.st.AddBlobRefs(ctx, s.adminAccount(t).ID, []string{scene.Hash}, s.eng.Now()); err != nil {
		t.Fatal(err)
	}

	borders := imaging.BlockBorders(4, imaging.Split("block"))
	var units []engine.UnitSpec
	for frame := 1; frame <= 4; frame++ {
		units = append(units, engine.UnitSpec{Name: fmt.Sprintf("frame %d", frame), Capability: "blender",
			Spec: mustMarshal(t, map[string]any{"scene": scene.Hash, "frame": frame, "format": "PNG"})})
	}
	for i, b := range borders {
		units = append(units, engine.UnitSpec{Name: fmt.Sprintf("frame 1 block %d", i), Capability: "blender",
			Spec: mustMarshal(t, map[string]any{"scene": scene.Hash, "frame": 1, "format": "PNG", "border": b})})
	}
	job, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: s.adminAccount(t).ID, Kind: "render", Units: units})
	if err != nil {
		t.Fatal(err)
	}

	actx, stop := context.WithCancel(ctx)
	defer stop()
	for i := range 2 {
		go agent.Run(actx, agent.Config{ServerURL: s.srv.URL, Token: s.creds.AgentToken, Name: fmt.Sprintf("render-node-%d", i),
			WorkDir: t.TempDir(), Executors: executor.Defaults(), LeaseWaitSeconds: 1}, quietLogger(t))
	}
	j := waitJob(t, s.st, job.ID, 5*time.Minute)
	if j.Status != store.JobSucceeded {
		t.Fatalf("render job ended %s", j.Status)
	}
	done, _, err := s.st.ListUnits(ctx, store.UnitFilter{JobID: job.ID})
	if err != nil {
		t.Fatal(err)
	}
	workers := map[int64]bool{}
	var blocks []imaging.Block
	for _, u := range done {
		img := s.decodeOutput(t, u)
		var spec struct {
			Border *imaging.Border `json:"border"`
		}
		json.Unmarshal(u.Spec, &spec)
		if spec.Border == nil {
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("%s: image is %dx%d, want %dx%d", u.Name, b.Dx(), b.Dy(), w, h)
			}
		} else {
			blocks = append(blocks, imaging.Block{Border: *spec.Border, Image: img})
		}
		workers[u.WorkerID] = true
	}
	stitched := imaging.Stitch(blocks, w, h)
	if b := stitched.Bounds(); b.Dx() != w || b.Dy() != h || len(blocks) != 4 {
		t.Fatalf("stitched %d blocks into %dx%d, want 4 into %dx%d", len(blocks), b.Dx(), b.Dy(), w, h)
	}
	if opaque := countOpaque(stitched); opaque != w*h {
		t.Fatalf("stitched frame has %d covered pixels, want all %d", opaque, w*h)
	}
	t.Logf("rendered %d units on %d agents", len(done), len(workers))
}

func (s *stack) decodeOutput(t *testing.T, u store.Unit) image.Image {
	t.Helper()
	var outs map[string]agentapi.Output
	if err := json.Unmarshal(u.Outputs, &outs); err != nil || outs["image"].Hash == "" {
		t.Fatalf("%s: outputs %s have no image", u.Name, u.Outputs)
	}
	rc, _, err := s.blobs.Open(context.Background(), outs["image"].Hash)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	img, err := png.Decode(rc)
	if err != nil {
		t.Fatalf("%s: output is not a PNG: %v", u.Name, err)
	}
	return img
}

func countOpaque(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a > 0 {
				n++
			}
		}
	}
	return n
}

func mustMarshal(t testing.TB, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
