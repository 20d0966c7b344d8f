package executor

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/imaging"
	"taskcenter/internal/unitspec"
)

//go:embed blender_setup.py
var blenderSetup []byte

// The spec, result and output names of a blender unit live in internal/unitspec, shared with the
// facades that write them; these names keep the executor's own spelling.
type (
	BlenderSpec   = unitspec.Blender
	BlenderResult = unitspec.BlenderResult
	BlenderFrame  = unitspec.BlenderFrame
)

const (
	FormatPNG       = unitspec.FormatPNG
	FormatEXR       = unitspec.FormatEXR
	OutputImage     = unitspec.OutputImage
	OutputThumbnail = unitspec.OutputThumbnail
	OutputProgress  = unitspec.OutputProgress
	ThumbnailSize   = unitspec.ThumbnailSize
	// MaxBlenderFrames bounds the frames of one unit.
	MaxBlenderFrames = unitspec.MaxBlenderFrames
)

// FrameOutput names output name of frame f in a several-frame unit: "image.12".
func FrameOutput(name string, f int) string { return unitspec.FrameOutput(name, f) }

// exitBadSpec is the exit code of the setup script for a spec that cannot apply to the file.
const exitBadSpec = 3

// Blender renders blender units headless.
type Blender struct {
	// Path is the blender executable; default "blender" from PATH.
	Path string
	// Threads, when positive, bounds Blender's render threads (useful with several slots).
	Threads int
	// Grace is how long a cancelled render gets between SIGTERM and SIGKILL; default 5s.
	Grace time.Duration
	// Preview configures the progress image rendered before each frame; the zero value is the
	// default.
	Preview BlenderPreview

	// dear holds the scenes (blob hashes) whose last preview cost more than Preview.MaxShare of its
	// frame: their next units render none (a render task's units are mostly of one frame each, so
	// the rule within a unit alone would rarely apply).
	mu   sync.Mutex
	dear map[string]bool
}

// maxDearScenes bounds Blender.dear; it starts again empty when full.
const maxDearScenes = 1024

// previewFor returns the preview parameters of a unit of scene: none when off or when the scene's
// last preview was too dear.
func (b *Blender) previewFor(scene string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dear[scene] {
		return nil
	}
	return b.Preview.params()
}

// previewCost records what a unit's previews cost: a share above MaxShare marks the scene dear.
func (b *Blender) previewCost(scene string, worst float64) {
	if worst <= b.Preview.maxShare() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dear == nil || len(b.dear) >= maxDearScenes {
		b.dear = map[string]bool{}
	}
	b.dear[scene] = true
}

// BlenderPreview configures a frame's progress image. Blender in background mode gives no access to
// a render's pixels before it ends, so before each frame the same Blender process renders it small
// (longest side Size) with few samples (Samples) to a PNG, uploaded as output "progress"
// ("progress.<frame>" in a several-frame unit) while the frame itself renders; its thumbnail then
// takes its place. It costs a scene sync and a small render per frame, so it is skipped where that
// is a large share: for a unit's first frame when the frame's pixels times samples are fewer than
// MinWork, for each later frame, and each later unit of the scene on this agent, when the last
// preview took more than MaxShare of its frame's render.
type BlenderPreview struct {
	Off      bool    // no progress images
	Size     int     // longest side in pixels; default ThumbnailSize
	Samples  int     // Cycles samples, Eevee TAA samples; default 4
	MinWork  float64 // pixels × samples under which a frame gets no preview; default 4e6
	MaxShare float64 // largest share of a frame's render time a preview may take; default 0.1
}

// Defaults of BlenderPreview.
const (
	DefaultPreviewSamples  = 4
	DefaultPreviewMinWork  = 4e6
	DefaultPreviewMaxShare = 0.1
)

// params is the preview as the render script reads it; nil when off.
func (p BlenderPreview) params() map[string]any {
	if p.Off {
		return nil
	}
	if p.Size <= 0 {
		p.Size = ThumbnailSize
	}
	if p.Samples <= 0 {
		p.Samples = DefaultPreviewSamples
	}
	if p.MinWork <= 0 {
		p.MinWork = DefaultPreviewMinWork
	}
	return map[string]any{"size": p.Size, "samples": p.Samples, "min_work": p.MinWork, "max_share": p.maxShare()}
}

func (p BlenderPreview) maxShare() float64 {
	if p.MaxShare <= 0 {
		return DefaultPreviewMaxShare
	}
	return p.MaxShare
}

// validateBlender checks a spec and fills in its defaults.
func validateBlender(s *BlenderSpec) error {
	switch {
	case s.Scene == "":
		return errors.New("scene (the blob hash of the .blend file) is required")
	case len(s.Resolution) != 0 && len(s.Resolution) != 2:
		return fmt.Errorf("resolution must be [width, height], got %v", s.Resolution)
	case len(s.Resolution) == 2 && (s.Resolution[0] < 1 || s.Resolution[1] < 1 ||
		s.Resolution[0] > 65536 || s.Resolution[1] > 65536):
		return fmt.Errorf("resolution %v is out of range", s.Resolution)
	case s.Samples < 0:
		return fmt.Errorf("samples must not be negative, got %d", s.Samples)
	case len(s.Frames) > MaxBlenderFrames:
		return fmt.Errorf("a unit renders at most %d frames, got %d", MaxBlenderFrames, len(s.Frames))
	}
	seen := make(map[int]bool, len(s.Frames))
	for _, f := range s.Frames {
		// Blender's -f reads a leading minus as "relative to the end": only frames >= 0 in a list.
		if f < 0 || seen[f] {
			return fmt.Errorf("frames must be distinct and not negative, got %v", s.Frames)
		}
		seen[f] = true
	}
	switch strings.ToUpper(s.Format) {
	case "", "PNG":
		s.Format = FormatPNG
	case "OPEN_EXR", "EXR":
		s.Format = FormatEXR
	default:
		return fmt.Errorf("format %q is not PNG or OPEN_EXR", s.Format)
	}
	if s.Engine != "" && !engineIdent.MatchString(s.Engine) {
		return fmt.Errorf("engine %q is not a Blender engine identifier", s.Engine)
	}
	if s.Border != nil {
		if err := s.Border.Validate(); err != nil {
			return err
		}
		if s.Border.Full() {
			s.Border = nil // the whole frame: a plain render
		}
	}
	return nil
}

// Run downloads the scene, renders the unit's frames, and uploads each frame's image and thumbnail
// as Blender saves it, while the next frame renders; with a preview, a frame's progress image
// first (see BlenderPreview).
func (b *Blender) Run(ctx context.Context, u agentapi.Unit, env agent.Env) (agent.Result, error) {
	var spec BlenderSpec
	if err := decodeSpec(u.Spec, &spec); err != nil {
		return agent.Result{}, err
	}
	if err := validateBlender(&spec); err != nil {
		return agent.Result{}, agent.Permanent(fmt.Errorf("blender spec: %w", err))
	}
	env.Progress(0, fmt.Sprintf("[agent] fetching scene %s\n", spec.Scene))
	cached, err := env.Input(ctx, spec.Scene)
	if err != nil {
		return agent.Result{}, fmt.Errorf("scene: %w", err)
	}
	dir := env.Dir()
	// A .blend name for Blender's sake; a link, since the cache is shared by all units.
	scene := filepath.Join(dir, "scene.blend")
	if err := os.Symlink(cached, scene); err != nil {
		return agent.Result{}, fmt.Errorf("scene: %w", err)
	}
	outDir := filepath.Join(dir, "out")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return agent.Result{}, fmt.Errorf("output dir: %w", err)
	}
	script := filepath.Join(dir, "setup.py")
	if err := os.WriteFile(script, blenderSetup, 0o600); err != nil {
		return agent.Result{}, fmt.Errorf("setup script: %w", err)
	}
	frames, several := spec.Frames, len(spec.Frames) > 0
	if !several {
		frames = []int{spec.Frame}
	}
	params, err := json.Marshal(map[string]any{
		"scene_name": spec.SceneName, "engine": spec.Engine, "samples": spec.Samples,
		"resolution": spec.Resolution, "camera": spec.Camera, "border": spec.Border,
		"format": spec.Format, "threads": b.Threads, "frames": frames, "out_dir": outDir,
		"preview": b.previewFor(spec.Scene),
	})
	if err != nil {
		return agent.Result{}, fmt.Errorf("setup params: %w", err)
	}
	paramsPath := filepath.Join(dir, "params.json")
	if err := os.WriteFile(paramsPath, params, 0o600); err != nil {
		return agent.Result{}, fmt.Errorf("setup params: %w", err)
	}

	args := []string{"-b", scene}
	if spec.SceneName != "" {
		args = append(args, "-S", spec.SceneName)
	}
	// The script applies the spec and renders the frames; everything after "--" is left to it.
	args = append(args, "--python-exit-code", "4", "--python", script, "--", paramsPath)
	path := b.Path
	if path == "" {
		path = "blender"
	}
	grace := b.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	// A failed upload stops Blender: the unit fails as it would have at the end, without the wait.
	rctx, stopRender := context.WithCancelCause(ctx)
	defer stopRender(nil)
	up := newFrameUploader(env, spec, frames, several, outDir, dir, func(err error) { stopRender(err) })
	cmd := command(rctx, grace, path, args...)
	cmd.Dir = dir
	progress := &renderProgress{env: env, frames: len(frames)}
	lines := &blenderLines{progress: progress, saved: up.saved}
	out := &logWriter{env: env, line: lines.line}
	cmd.Stdout, cmd.Stderr = out, out
	env.Progress(progressStart, "[agent] "+path+" "+strings.Join(args, " ")+"\n")
	go up.run(ctx)
	start := time.Now()
	err = run(cmd, env)
	renderSeconds := time.Since(start).Seconds()
	upErr := up.finish()
	b.previewCost(spec.Scene, lines.worstShare)
	if ctx.Err() != nil {
		return agent.Result{}, fmt.Errorf("blender stopped: %w", context.Cause(ctx))
	}
	if upErr != nil {
		return agent.Result{}, upErr
	}
	if err != nil {
		f := exitFailure("blender", err, out.Tail())
		var af *agent.Failure
		if errors.As(f, &af) && af.ExitCode == exitBadSpec {
			af.Permanent = true
		}
		return agent.Result{}, f
	}
	env.Progress(progressRendered, "")
	// A frame whose "Saved:" line was not seen (an unusual path, a Blender printing otherwise) is
	// uploaded now; Blender exits 0 after some failures (a render engine error): a missing image
	// is the signal.
	res := BlenderResult{Format: spec.Format, Border: spec.Border, RenderSeconds: renderSeconds}
	for _, f := range frames {
		fr, err := up.frame(ctx, f)
		if err != nil {
			var af *agent.Failure
			if errors.As(err, &af) {
				af.Err = fmt.Errorf("%w\n%s", af.Err, out.Tail())
			}
			return agent.Result{}, err
		}
		if several {
			res.Frames = append(res.Frames, fr)
		}
		if f == frames[0] {
			res.Frame, res.File, res.Width, res.Height = fr.Frame, fr.File, fr.Width, fr.Height
		}
	}
	env.Progress(100, "")
	return agent.Result{Data: res}, nil
}

// blenderLines reads Blender's output lines: a preview's lines ("TASKCENTER-PREVIEW N" up to its
// "Saved:" or "TASKCENTER-PREVIEW-FAILED") do not count as render progress; every "Saved:" path goes
// to the uploader.
type blenderLines struct {
	progress  *renderProgress
	saved     func(path string)
	inPreview bool
	// worstShare is the largest share of a frame's render time a preview took
	// ("TASKCENTER-PREVIEW-COST").
	worstShare float64
}

func (b *blenderLines) line(l string) {
	switch {
	case strings.HasPrefix(l, "TASKCENTER-PREVIEW-COST "):
		if m := previewCostLine.FindStringSubmatch(l); m != nil {
			p, _ := strconv.ParseFloat(m[1], 64)
			r, _ := strconv.ParseFloat(m[2], 64)
			if r > 0 {
				b.worstShare = max(b.worstShare, p/r)
			}
		}
	case strings.HasPrefix(l, "TASKCENTER-PREVIEW-FAILED"):
		b.inPreview = false
	case strings.HasPrefix(l, "TASKCENTER-PREVIEW "):
		b.inPreview = true
	case strings.HasPrefix(l, "Saved:"):
		b.saved(strings.Trim(strings.TrimSpace(strings.TrimPrefix(l, "Saved:")), "'\""))
		if b.inPreview {
			b.inPreview = false
			return
		}
		b.progress.line(l)
	case !b.inPreview:
		b.progress.line(l)
	}
}

// frameUploader uploads, in the background, each file Blender reports saved: a frame's image and
// thumbnail, or its progress image (until the frame itself is saved). Frames it could not see
// saved are uploaded by frame once Blender has exited.
type frameUploader struct {
	env      agent.Env
	spec     BlenderSpec
	several  bool
	outDir   string
	dir      string
	ext      string
	wanted   map[int]bool
	failed   func(error) // stops the render
	queue    chan string
	done     chan struct{}
	finished map[int]BlenderFrame // written by run, read after done
	err      error                // the first failed frame upload; written by run, read after done
}

func newFrameUploader(env agent.Env, spec BlenderSpec, frames []int, several bool, outDir, dir string, failed func(error)) *frameUploader {
	ext := ".png"
	if spec.Format == FormatEXR {
		ext = ".exr"
	}
	wanted := make(map[int]bool, len(frames))
	for _, f := range frames {
		wanted[f] = true
	}
	return &frameUploader{env: env, spec: spec, several: several, outDir: outDir, dir: dir, ext: ext,
		wanted: wanted, failed: failed, finished: map[int]BlenderFrame{}, done: make(chan struct{}),
		// Two files a frame: Blender never waits on the uploads (its output would stall).
		queue: make(chan string, 2*len(frames)+2)}
}

// saved hands a path Blender printed to the uploader; it never blocks.
func (u *frameUploader) saved(path string) {
	select {
	case u.queue <- path:
	default: // more "Saved:" lines than files of this unit: not ours
	}
}

func (u *frameUploader) name(output string, f int) string {
	if u.several {
		return FrameOutput(output, f)
	}
	return output
}

// parse tells which frame a path Blender saved is, and whether it is the frame's progress image.
func (u *frameUploader) parse(path string) (frame int, progress, ok bool) {
	if filepath.Dir(path) != u.outDir {
		return 0, false, false
	}
	base := filepath.Base(path)
	num, found := strings.CutPrefix(base, "frame_")
	if found {
		num, found = strings.CutSuffix(num, u.ext)
	} else if num, found = strings.CutPrefix(base, "progress_"); found {
		num, found = strings.CutSuffix(num, ".png")
		progress = true
	}
	f, err := strconv.Atoi(num)
	if !found || err != nil || !u.wanted[f] {
		return 0, false, false
	}
	return f, progress, true
}

// run uploads what Blender saves until the queue is closed. After a failed frame upload it only
// drains the queue.
func (u *frameUploader) run(ctx context.Context) {
	defer close(u.done)
	for path := range u.queue {
		f, progress, ok := u.parse(path)
		if !ok || u.err != nil {
			continue
		}
		if _, done := u.finished[f]; done {
			continue
		}
		if progress {
			if len(u.queue) > 0 {
				continue // the frame (or the next) is saved already: this image is stale
			}
			if _, err := u.env.Upload(ctx, u.name(OutputProgress, f), path); err != nil {
				// A progress image is for watching: its loss fails nothing.
				u.env.Progress(-1, fmt.Sprintf("[agent] progress image of frame %d not uploaded: %v\n", f, err))
			}
			continue
		}
		fr, err := u.upload(ctx, f, path)
		if err != nil {
			u.err = err
			u.failed(err)
			continue
		}
		u.finished[f] = fr
	}
}

// finish waits for the uploads of what Blender saved and returns the first failure.
func (u *frameUploader) finish() error {
	close(u.queue)
	<-u.done
	return u.err
}

// frame returns frame f, uploading it now if it was not seen saved; called after finish.
func (u *frameUploader) frame(ctx context.Context, f int) (BlenderFrame, error) {
	if fr, ok := u.finished[f]; ok {
		return fr, nil
	}
	fr, err := u.upload(ctx, f, filepath.Join(u.outDir, fmt.Sprintf("frame_%05d%s", f, u.ext)))
	if err == nil {
		u.finished[f] = fr
	}
	return fr, err
}

// upload sends a frame's image and, for a PNG, its thumbnail. A missing or unreadable image is an
// agent.Failure (Blender did not render the frame); a failed upload a plain error.
func (u *frameUploader) upload(ctx context.Context, f int, file string) (BlenderFrame, error) {
	w, h, err := imaging.Size(file)
	if err != nil {
		return BlenderFrame{}, &agent.Failure{Err: fmt.Errorf("frame %d: %w", f, err)}
	}
	if _, err := u.env.Upload(ctx, u.name(OutputImage, f), file); err != nil {
		return BlenderFrame{}, fmt.Errorf("upload image of frame %d: %w", f, err)
	}
	if u.spec.Format == FormatPNG {
		thumb := filepath.Join(u.dir, fmt.Sprintf("thumbnail_%d.png", f))
		if err := uploadThumbnailAs(ctx, u.env, u.name(OutputThumbnail, f), file, thumb); err != nil {
			return BlenderFrame{}, err
		}
	}
	return BlenderFrame{Frame: f, File: filepath.Base(file), Width: w, Height: h}, nil
}

func uploadThumbnailAs(ctx context.Context, env agent.Env, name, src, dst string) error {
	img, err := imaging.ReadPNG(src)
	if err != nil {
		return fmt.Errorf("thumbnail: %w", err)
	}
	if err := imaging.WritePNG(dst, imaging.Thumbnail(img, ThumbnailSize)); err != nil {
		return fmt.Errorf("thumbnail: %w", err)
	}
	if _, err := env.Upload(ctx, name, dst); err != nil {
		return fmt.Errorf("upload thumbnail: %w", err)
	}
	return nil
}

// Progress bands of a render: before Blender reports samples (download, load, sync), rendering,
// and saving plus uploading.
const (
	progressStart    = 2
	progressRendered = 95
)

// Progress lines of Blender 3.4: Cycles prints "Sample 12/32" (older Cycles "Rendered 3/16 Tiles",
// Cycles X with tiling "Tile 2/4"); Eevee prints "Rendering 3 / 16 samples". Workbench prints
// nothing until "Saved:".
var (
	engineIdent = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	// previewCostLine is the render script's measure of a frame's preview and render.
	previewCostLine = regexp.MustCompile(`^TASKCENTER-PREVIEW-COST frame=-?\d+ preview=([0-9.]+)s render=([0-9.]+)s`)
	cyclesSample    = regexp.MustCompile(`\bSample (\d+)/(\d+)`)
	cyclesTile      = regexp.MustCompile(`\b(?:Rendered (\d+)/(\d+) Tiles|Tile (\d+)/(\d+))`)
	eeveeSample     = regexp.MustCompile(`\bRendering (\d+) / (\d+) samples`)
)

// renderProgress turns Blender's output lines into progress reports. With several frames each frame
// is an equal share, a frame counting as done when Blender saved it.
type renderProgress struct {
	env          agent.Env
	frames, done int
	tile, tiles  int
	last         int
}

func (p *renderProgress) line(l string) {
	frac := -1.0
	if m := cyclesTile.FindStringSubmatch(l); m != nil {
		n, total := atoi(m[1]+m[3]), atoi(m[2]+m[4])
		if total > 0 {
			p.tile, p.tiles = n, total
			frac = float64(n-1) / float64(total)
		}
	}
	if m := cyclesSample.FindStringSubmatch(l); m != nil {
		if s, total := atoi(m[1]), atoi(m[2]); total > 0 {
			frac = float64(s) / float64(total)
			if p.tiles > 1 {
				frac = (float64(p.tile-1) + frac) / float64(p.tiles)
			}
		}
	} else if m := eeveeSample.FindStringSubmatch(l); m != nil {
		if s, total := atoi(m[1]), atoi(m[2]); total > 0 {
			frac = float64(s) / float64(total)
		}
	} else if strings.HasPrefix(l, "Saved:") {
		p.done = min(p.done+1, max(p.frames, 1))
		frac = 0
	}
	if frac < 0 {
		return
	}
	frames := max(p.frames, 1)
	overall := (float64(p.done) + frac) / float64(frames)
	pct := progressStart + int(min(overall, 1)*float64(progressRendered-progressStart))
	if pct > p.last { // Blender restarts sample counts per tile and view layer; never go back
		p.last = pct
		p.env.Progress(float64(pct), "")
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
