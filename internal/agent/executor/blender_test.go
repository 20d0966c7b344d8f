package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/blendertest"
	"taskcenter/internal/imaging"
)

const sceneHash = "scenehash"

// testScene generates the Cycles test scene once for all tests of the package.
var testScene = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "blender-executor-test-")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return blendertest.Scene(ctx, dir, blendertest.Options{Samples: 16})
})

func TestMain(m *testing.M) {
	code := m.Run()
	if path, err := testScene(); err == nil {
		os.RemoveAll(filepath.Dir(path))
	}
	os.Exit(code)
}

func blenderEnv(t *testing.T) *fakeEnv {
	t.Helper()
	blendertest.Require(t)
	path, err := testScene()
	if err != nil {
		t.Fatal(err)
	}
	env := newFakeEnv(t)
	env.inputs[sceneHash] = path
	return env
}

func decodeUpload(t *testing.T, env *fakeEnv, name string) image.Image {
	t.Helper()
	data, ok := env.uploads[name]
	if !ok {
		t.Fatalf("no %s uploaded", name)
	}
	img, err := imaging.DecodePNG(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestBlender(t *testing.T) {
	tests := []struct {
		name        string
		spec        BlenderSpec
		wantW       int
		wantH       int
		wantFile    string
		wantSamples bool // Cycles sample progress between start and end
	}{
		{"full frame", BlenderSpec{Scene: sceneHash, Frame: 2}, 160, 120, "frame_00002.png", true},
		{"block", BlenderSpec{Scene: sceneHash, Frame: 1, Border: &imaging.Border{MinX: 0.5, MaxX: 1, MinY: 0, MaxY: 0.5}}, 80, 60, "frame_00001.png", true},
		{"odd block", BlenderSpec{Scene: sceneHash, Frame: 3, Border: &imaging.BlockBorders(3, imaging.SplitStrip)[1]}, 160, 40, "frame_00003.png", true},
		{"overrides", BlenderSpec{Scene: sceneHash, Frame: 4, SceneName: "Scene", Engine: "BLENDER_WORKBENCH", Resolution: []int{64, 48}, Camera: "Side"}, 64, 48, "frame_00004.png", false},
		{"exr", BlenderSpec{Scene: sceneHash, Frame: 1, Format: "OPEN_EXR", Samples: 4}, 160, 120, "frame_00001.exr", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := blenderEnv(t)
			start := time.Now()
			res, err := (&Blender{}).Run(t.Context(), unit(t, "blender", tt.spec), env)
			if err != nil {
				t.Fatalf("Run: %v\nlog:\n%s", err, env.Log())
			}
			t.Logf("%s rendered in %v", tt.name, time.Since(start).Round(time.Millisecond))
			r := res.Data.(BlenderResult)
			if r.Width != tt.wantW || r.Height != tt.wantH || r.File != tt.wantFile {
				t.Errorf("result %+v, want %dx%d %s", r, tt.wantW, tt.wantH, tt.wantFile)
			}
			if _, err := json.Marshal(res.Data); err != nil {
				t.Fatal(err)
			}
			if r.Format == FormatPNG {
				img := decodeUpload(t, env, OutputImage)
				if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
					t.Errorf("uploaded image is %v, want %dx%d", b, tt.wantW, tt.wantH)
				}
				thumb := decodeUpload(t, env, OutputThumbnail)
				if b := thumb.Bounds(); max(b.Dx(), b.Dy()) > ThumbnailSize {
					t.Errorf("thumbnail is %v", b)
				}
			} else if len(env.uploads[OutputImage]) == 0 {
				t.Error("no EXR uploaded")
			}
			progress := env.Progresses()
			if len(progress) == 0 || progress[len(progress)-1] != 100 {
				t.Errorf("progress %v does not end at 100", progress)
			}
			sampled := false
			for i, p := range progress {
				if i > 0 && p < progress[i-1] {
					t.Errorf("progress went back: %v", progress)
				}
				if p > progressStart && p < progressRendered {
					sampled = true
				}
			}
			if sampled != tt.wantSamples {
				t.Errorf("progress %v: intermediate render progress seen = %v, want %v", progress, sampled, tt.wantSamples)
			}
		})
	}
}

// TestBlenderFrames renders several frames in one unit: one image and one thumbnail per frame, named
// by the frame, and the frames differ (the cube moves).
func TestBlenderFrames(t *testing.T) {
	env := blenderEnv(t)
	res, err := (&Blender{}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frames: []int{1, 3}, Samples: 4}), env)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, env.Log())
	}
	r := res.Data.(BlenderResult)
	if len(r.Frames) != 2 || r.Frames[0].Frame != 1 || r.Frames[1].Frame != 3 || r.Frames[1].File != "frame_00003.png" || r.Frame != 1 {
		t.Fatalf("result %+v", r)
	}
	if _, ok := env.uploads[OutputImage]; ok {
		t.Error("a several-frame unit uploaded a plain image output")
	}
	for _, f := range []int{1, 3} {
		img := decodeUpload(t, env, FrameOutput(OutputImage, f))
		if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 120 {
			t.Errorf("frame %d is %v", f, b)
		}
		decodeUpload(t, env, FrameOutput(OutputThumbnail, f))
	}
	if bytes.Equal(env.uploads[FrameOutput(OutputImage, 1)], env.uploads[FrameOutput(OutputImage, 3)]) {
		t.Error("frames 1 and 3 are the same image")
	}
	progress := env.Progresses()
	if len(progress) == 0 || progress[len(progress)-1] != 100 {
		t.Errorf("progress %v does not end at 100", progress)
	}
	half := false
	for i, p := range progress {
		if i > 0 && p < progress[i-1] {
			t.Errorf("progress went back: %v", progress)
		}
		if p >= 48 && p <= 50 {
			half = true // frame 1 saved: half of the unit
		}
	}
	if !half {
		t.Errorf("progress %v never showed the first of two frames done", progress)
	}
}

// TestBlenderBlocksStitch renders a frame whole and in four blocks: stitched, the blocks must give
// the frame back (Cycles seeds its samples per pixel, so a border render is the same pixels).
func TestBlenderBlocksStitch(t *testing.T) {
	env := blenderEnv(t)
	full, err := (&Blender{}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frame: 2}), env)
	if err != nil {
		t.Fatalf("full frame: %v\n%s", err, env.Log())
	}
	fr := full.Data.(BlenderResult)
	want := decodeUpload(t, env, OutputImage)
	var blocks []imaging.Block
	for _, b := range imaging.BlockBorders(4, imaging.SplitBlock) {
		benv := blenderEnv(t)
		if _, err := (&Blender{}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frame: 2, Border: &b}), benv); err != nil {
			t.Fatalf("block %+v: %v\n%s", b, err, benv.Log())
		}
		blocks = append(blocks, imaging.Block{Border: b, Image: decodeUpload(t, benv, OutputImage)})
	}
	got := imaging.Stitch(blocks, fr.Width, fr.Height)
	var maxDiff, diffPixels int
	for y := range fr.Height {
		for x := range fr.Width {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			d := max(absDiff(r1, r2), absDiff(g1, g2), absDiff(b1, b2)) >> 8
			if d > 0 {
				diffPixels++
			}
			maxDiff = max(maxDiff, d)
		}
	}
	t.Logf("stitched vs full frame: %d pixels differ, max difference %d/255", diffPixels, maxDiff)
	if maxDiff > 8 {
		t.Errorf("stitched blocks differ from the full frame by up to %d/255", maxDiff)
	}
}

func absDiff(a, b uint32) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestBlenderFailures(t *testing.T) {
	tests := []struct {
		name      string
		spec      BlenderSpec
		permanent bool
		code      int
	}{
		{"unknown camera", BlenderSpec{Scene: sceneHash, Camera: "Nope"}, true, exitBadSpec},
		{"unknown scene", BlenderSpec{Scene: sceneHash, SceneName: "Nope"}, true, exitBadSpec},
		{"unknown engine", BlenderSpec{Scene: sceneHash, Engine: "NOPE"}, true, exitBadSpec},
		{"bad border", BlenderSpec{Scene: sceneHash, Border: &imaging.Border{MinX: 0.5, MaxX: 0.2, MaxY: 1}}, true, 0},
		{"bad format", BlenderSpec{Scene: sceneHash, Format: "JPEG"}, true, 0},
		{"repeated frames", BlenderSpec{Scene: sceneHash, Frames: []int{1, 2, 1}}, true, 0},
		{"negative frame in a list", BlenderSpec{Scene: sceneHash, Frames: []int{-1, 2}}, true, 0},
		{"missing scene", BlenderSpec{Scene: "other"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := blenderEnv(t)
			_, err := (&Blender{}).Run(t.Context(), unit(t, "blender", tt.spec), env)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			var f *agent.Failure
			code, permanent := 0, false
			if errors.As(err, &f) {
				code, permanent = f.ExitCode, f.Permanent
			}
			if code != tt.code || permanent != tt.permanent {
				t.Errorf("got exit code %d permanent %v, want %d %v: %v", code, permanent, tt.code, tt.permanent, err)
			}
		})
	}
}

func TestBlenderCorruptScene(t *testing.T) {
	env := blenderEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.blend")
	if err := os.WriteFile(bad, []byte("not a blend file"), 0o600); err != nil {
		t.Fatal(err)
	}
	env.inputs["bad"] = bad
	_, err := (&Blender{}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: "bad"}), env)
	if err == nil {
		t.Fatal("rendering a corrupt scene succeeded")
	}
}

func TestBlenderCancel(t *testing.T) {
	env := blenderEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// Enough samples to take long: the cancel must interrupt the render.
		_, err := (&Blender{Grace: 2 * time.Second}).Run(ctx, unit(t, "blender", BlenderSpec{Scene: sceneHash, Samples: 100000, Resolution: []int{640, 480}}), env)
		done <- err
	}()
	deadline := time.After(60 * time.Second)
	for {
		if strings.Contains(env.Log(), "Sample 1/") {
			break // rendering
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before cancellation: %v\n%s", err, env.Log())
		case <-deadline:
			t.Fatal("no render progress")
		case <-time.After(50 * time.Millisecond):
		}
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled render succeeded")
		}
		t.Logf("render stopped %v after cancellation", time.Since(start).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		want   []float64
		frames int
	}{
		{"cycles", []string{"Fra:1 | Sample 0/16", "Fra:1 | Remaining:00:00.10 | Sample 8/16", "Fra:1 | Sample 16/16", "Saved: 'x.png'"}, []float64{2, 48, 95}, 0},
		{"eevee", []string{"Fra:1 | Rendering 1 / 4 samples", "Fra:1 | Rendering 4 / 4 samples"}, []float64{25, 95}, 0},
		{"tiles", []string{"Rendered 1/2 Tiles, Sample 10/10", "Rendered 2/2 Tiles, Sample 5/10"}, []float64{48, 71}, 0},
		{"workbench", []string{"Fra:1 | Rendering", "Saved: 'x.png'"}, []float64{95}, 0},
		{"two frames", []string{"Fra:1 | Sample 2/4", "Saved: 'a.png'", "Fra:2 | Sample 2/4", "Saved: 'b.png'"}, []float64{25, 48, 71, 95}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFakeEnv(t)
			p := &renderProgress{env: env, frames: tt.frames}
			for _, l := range tt.lines {
				p.line(l)
			}
			got := env.Progresses()
			if len(got) != len(tt.want) {
				t.Fatalf("progress %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("progress %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestBlenderUploadsFramesAsSaved renders three frames: each frame's image and thumbnail are
// uploaded as Blender saves it, while the next frame renders, not once Blender has exited.
func TestBlenderUploadsFramesAsSaved(t *testing.T) {
	env := blenderEnv(t)
	var before string // the log when frame 1's image was uploaded
	env.onUpload = func(name, log string) error {
		if name == FrameOutput(OutputImage, 1) {
			before = log
		}
		return nil
	}
	res, err := (&Blender{}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frames: []int{1, 2, 3}, Samples: 4}), env)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, env.Log())
	}
	if !strings.Contains(before, "frame_00001.png") {
		t.Fatalf("frame 1 uploaded before Blender saved it:\n%s", before)
	}
	if strings.Contains(before, "frame_00003.png") || strings.Contains(before, "Blender quit") {
		t.Errorf("frame 1 was uploaded only after the last frame was saved:\n%s", before)
	}
	if r := res.Data.(BlenderResult); len(r.Frames) != 3 || r.Frames[2].Frame != 3 {
		t.Errorf("result %+v", r)
	}
	want := []string{"image.1", "thumbnail.1", "image.2", "thumbnail.2", "image.3", "thumbnail.3"}
	if !slices.Equal(env.order, want) {
		t.Errorf("uploads %v, want %v", env.order, want)
	}
}

// TestBlenderUploadFailure fails the upload of a block's first frame: the unit fails with that
// error, and Blender is stopped rather than left to render the rest.
func TestBlenderUploadFailure(t *testing.T) {
	env := blenderEnv(t)
	env.onUpload = func(name, log string) error {
		if name == FrameOutput(OutputImage, 1) {
			return errors.New("the server is gone")
		}
		return nil
	}
	_, err := (&Blender{}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frames: []int{1, 2, 3}, Samples: 64}), env)
	if err == nil || !strings.Contains(err.Error(), "the server is gone") {
		t.Fatalf("Run: %v, want the upload's error", err)
	}
	if strings.Contains(env.Log(), "frame_00003.png") {
		t.Errorf("Blender went on rendering after the upload failed:\n%s", env.Log())
	}
	if len(env.uploads) != 0 {
		t.Errorf("uploaded %v", env.order)
	}
}

// TestBlenderPreview renders with progress images: a frame's preview is uploaded before its image,
// is a real (smaller, noisier) render of the frame, leaves the final image as it would be without
// it, and does not count as render progress. A small frame gets none by default; after a preview
// costing more than MaxShare of its frame, later frames get none.
func TestBlenderPreview(t *testing.T) {
	plain := blenderEnv(t)
	if _, err := (&Blender{Preview: BlenderPreview{Off: true}}).Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frame: 2}), plain); err != nil {
		t.Fatalf("Run: %v\n%s", err, plain.Log())
	}
	tests := []struct {
		name    string
		preview BlenderPreview
		spec    BlenderSpec
		want    []string // uploads in order
	}{
		{"default: a small frame gets none", BlenderPreview{}, BlenderSpec{Scene: sceneHash, Frame: 2},
			[]string{"image", "thumbnail"}},
		{"one frame", BlenderPreview{MinWork: 1}, BlenderSpec{Scene: sceneHash, Frame: 2},
			[]string{"progress", "image", "thumbnail"}},
		{"a block", BlenderPreview{MinWork: 1, Size: 64}, BlenderSpec{Scene: sceneHash, Frame: 2, Border: &imaging.Border{MinX: 0.5, MaxX: 1, MinY: 0, MaxY: 0.5}},
			[]string{"progress", "image", "thumbnail"}},
		{"several frames", BlenderPreview{MinWork: 1, MaxShare: 100}, BlenderSpec{Scene: sceneHash, Frames: []int{1, 2}},
			[]string{"progress.1", "image.1", "thumbnail.1", "progress.2", "image.2", "thumbnail.2"}},
		{"previews too dear", BlenderPreview{MinWork: 1, MaxShare: 1e-6}, BlenderSpec{Scene: sceneHash, Frames: []int{1, 2}},
			[]string{"progress.1", "image.1", "thumbnail.1", "image.2", "thumbnail.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := blenderEnv(t)
			res, err := (&Blender{Preview: tt.preview}).Run(t.Context(), unit(t, "blender", tt.spec), env)
			if err != nil {
				t.Fatalf("Run: %v\nlog:\n%s", err, env.Log())
			}
			if !slices.Equal(env.order, tt.want) {
				t.Fatalf("uploads %v, want %v\n%s", env.order, tt.want, env.Log())
			}
			r := res.Data.(BlenderResult)
			progress := env.Progresses()
			for i, p := range progress {
				if i > 0 && p < progress[i-1] {
					t.Errorf("progress went back: %v", progress)
				}
			}
			if len(progress) == 0 || progress[len(progress)-1] != 100 {
				t.Errorf("progress %v does not end at 100", progress)
			}
			if tt.want[0] != OutputProgress {
				return
			}
			// The preview is the block or frame, its longest side at most Size, and not the image.
			pv := decodeUpload(t, env, OutputProgress)
			size := tt.preview.Size
			if size == 0 {
				size = ThumbnailSize
			}
			if b := pv.Bounds(); max(b.Dx(), b.Dy()) > size || b.Dx()*r.Height != b.Dy()*r.Width {
				t.Errorf("preview is %v, the image %dx%d, size %d", b, r.Width, r.Height, size)
			}
			if bytes.Equal(env.uploads[OutputProgress], env.uploads[OutputImage]) {
				t.Error("the preview is the final image")
			}
			if tt.spec.Border == nil {
				if d := maxPixelDiff(decodeUpload(t, env, OutputImage), decodeUpload(t, plain, OutputImage)); d != 0 {
					t.Errorf("the image rendered after a preview differs from one without by up to %d/255", d)
				}
			}
		})
	}
}

func maxPixelDiff(a, b image.Image) int {
	if a.Bounds() != b.Bounds() {
		return 255
	}
	d := 0
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			d = max(d, absDiff(r1, r2)>>8, absDiff(g1, g2)>>8, absDiff(b1, b2)>>8)
		}
	}
	return d
}

// TestBlenderLines reads the render script's output: a preview's samples are not render progress,
// and every saved file goes to the uploader.
func TestBlenderLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []float64
		saved []string
	}{
		{"preview then frame", []string{"TASKCENTER-PREVIEW 1", "Fra:1 | Sample 4/4", "Saved: '/o/progress_00001.png'",
			"Fra:1 | Sample 8/16", "Saved: '/o/frame_00001.png'"}, []float64{48, 95}, []string{"/o/progress_00001.png", "/o/frame_00001.png"}},
		{"failed preview", []string{"TASKCENTER-PREVIEW 1", "Fra:1 | Sample 1/4", "TASKCENTER-PREVIEW-FAILED boom",
			"Fra:1 | Sample 16/16", "Saved: '/o/frame_00001.png'"}, []float64{95}, []string{"/o/frame_00001.png"}},
		{"no preview", []string{"Fra:1 | Sample 8/16", "Saved: \"/o/frame_00001.png\""}, []float64{48, 95}, []string{"/o/frame_00001.png"}},
		{"preview costs", []string{"TASKCENTER-PREVIEW 1", "Saved: '/o/progress_00001.png'", "Saved: '/o/frame_00001.png'",
			"TASKCENTER-PREVIEW-COST frame=1 preview=0.500s render=2.000s", "TASKCENTER-PREVIEW-COST frame=2 preview=0.100s render=2.000s"},
			[]float64{95}, []string{"/o/progress_00001.png", "/o/frame_00001.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFakeEnv(t)
			var saved []string
			l := &blenderLines{progress: &renderProgress{env: env, frames: 1}, saved: func(p string) { saved = append(saved, p) }}
			for _, line := range tt.lines {
				l.line(line)
			}
			if got := env.Progresses(); !slices.Equal(got, tt.want) {
				t.Errorf("progress %v, want %v", got, tt.want)
			}
			if !slices.Equal(saved, tt.saved) {
				t.Errorf("saved %v, want %v", saved, tt.saved)
			}
			if tt.name == "preview costs" && l.worstShare != 0.25 {
				t.Errorf("worst share %v, want 0.25", l.worstShare)
			}
		})
	}
}

// TestBlenderPreviewTooDear: once a scene's preview cost more than MaxShare of its frame, the
// agent's next units of that scene render none (a render task's units are mostly single frames).
func TestBlenderPreviewTooDear(t *testing.T) {
	b := &Blender{Preview: BlenderPreview{MinWork: 1, MaxShare: 1e-6}}
	for i, want := range [][]string{{"progress", "image", "thumbnail"}, {"image", "thumbnail"}} {
		env := blenderEnv(t)
		if _, err := b.Run(t.Context(), unit(t, "blender", BlenderSpec{Scene: sceneHash, Frame: 1}), env); err != nil {
			t.Fatalf("Run: %v\n%s", err, env.Log())
		}
		if !slices.Equal(env.order, want) {
			t.Fatalf("unit %d uploaded %v, want %v", i+1, env.order, want)
		}
	}
}
