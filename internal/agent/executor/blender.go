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

// Run downloads the scene, renders the frame, uploads the image and a thumbnail.
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
	params, err := json.Marshal(map[string]any{
		"scene_name": spec.SceneName, "engine": spec.Engine, "samples": spec.Samples,
		"resolution": spec.Resolution, "camera": spec.Camera, "border": spec.Border,
		"format": spec.Format, "threads": b.Threads,
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
	// Arguments run in order: setup, output path, then -f renders. Everything after "--" is
	// left to the script.
	frameArg := strconv.Itoa(spec.Frame)
	if len(spec.Frames) > 0 {
		list := make([]string, len(spec.Frames))
		for i, f := range spec.Frames {
			list[i] = strconv.Itoa(f)
		}
		frameArg = strings.Join(list, ",") // Blender renders a comma-separated list in one run
	}
	args = append(args, "--python-exit-code", "4", "--python", script,
		"-o", filepath.Join(outDir, "frame_#####"), "-F", spec.Format, "-f", frameArg,
		"--", paramsPath)
	path := b.Path
	if path == "" {
		path = "blender"
	}
	grace := b.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	cmd := command(ctx, grace, path, args...)
	cmd.Dir = dir
	progress := &renderProgress{env: env, frames: max(len(spec.Frames), 1)}
	out := &logWriter{env: env, line: progress.line}
	cmd.Stdout, cmd.Stderr = out, out
	env.Progress(progressStart, "[agent] "+path+" "+strings.Join(args, " ")+"\n")
	start := time.Now()
	err = run(cmd, env)
	renderSeconds := time.Since(start).Seconds()
	if ctx.Err() != nil {
		return agent.Result{}, fmt.Errorf("blender stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		f := exitFailure("blender", err, out.Tail())
		var af *agent.Failure
		if errors.As(f, &af) && af.ExitCode == exitBadSpec {
			af.Permanent = true
		}
		return agent.Result{}, f
	}
	if len(spec.Frames) > 0 {
		return b.uploadFrames(ctx, env, spec, outDir, dir, out, renderSeconds)
	}
	file, err := renderedFile(outDir)
	if err != nil {
		// Blender exits 0 after some failures (e.g. a render engine error): no image is the signal.
		return agent.Result{}, &agent.Failure{Err: fmt.Errorf("%w\n%s", err, out.Tail())}
	}
	w, h, err := imaging.Size(file)
	if err != nil {
		return agent.Result{}, fmt.Errorf("rendered image: %w", err)
	}
	env.Progress(progressRendered, "")
	if _, err := env.Upload(ctx, OutputImage, file); err != nil {
		return agent.Result{}, fmt.Errorf("upload image: %w", err)
	}
	if spec.Format == FormatPNG {
		if err := uploadThumbnail(ctx, env, file, filepath.Join(dir, "thumbnail.png")); err != nil {
			return agent.Result{}, err
		}
	}
	env.Progress(100, "")
	return agent.Result{Data: BlenderResult{
		Width: w, Height: h, File: filepath.Base(file), Frame: spec.Frame, Format: spec.Format,
		Border: spec.Border, RenderSeconds: renderSeconds,
	}}, nil
}

// uploadFrames uploads each image of a several-frame render.
func (b *Blender) uploadFrames(ctx context.Context, env agent.Env, spec BlenderSpec, outDir, dir string, out *logWriter, renderSeconds float64) (agent.Result, error) {
	ext := ".png"
	if spec.Format == FormatEXR {
		ext = ".exr"
	}
	res := BlenderResult{Format: spec.Format, Border: spec.Border, RenderSeconds: renderSeconds}
	for _, f := range spec.Frames {
		file := filepath.Join(outDir, fmt.Sprintf("frame_%05d%s", f, ext))
		w, h, err := imaging.Size(file)
		if err != nil {
			// Blender exits 0 after some failures: a missing image is the signal.
			return agent.Result{}, &agent.Failure{Err: fmt.Errorf("frame %d: %w\n%s", f, err, out.Tail())}
		}
		if _, err := env.Upload(ctx, FrameOutput(OutputImage, f), file); err != nil {
			return agent.Result{}, fmt.Errorf("upload image of frame %d: %w", f, err)
		}
		if spec.Format == FormatPNG {
			thumb := filepath.Join(dir, fmt.Sprintf("thumbnail_%d.png", f))
			if err := uploadThumbnailAs(ctx, env, FrameOutput(OutputThumbnail, f), file, thumb); err != nil {
				return agent.Result{}, err
			}
		}
		res.Frames = append(res.Frames, BlenderFrame{Frame: f, File: filepath.Base(file), Width: w, Height: h})
	}
	first := res.Frames[0]
	res.Frame, res.File, res.Width, res.Height = first.Frame, first.File, first.Width, first.Height
	env.Progress(100, "")
	return agent.Result{Data: res}, nil
}

// renderedFile finds the one image Blender wrote.
func renderedFile(outDir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(outDir, "frame_*"))
	if err != nil {
		return "", err
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("blender wrote %d images, expected 1", len(matches))
	}
	return matches[0], nil
}

func uploadThumbnail(ctx context.Context, env agent.Env, src, dst string) error {
	return uploadThumbnailAs(ctx, env, OutputThumbnail, src, dst)
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
	engineIdent  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	cyclesSample = regexp.MustCompile(`\bSample (\d+)/(\d+)`)
	cyclesTile   = regexp.MustCompile(`\b(?:Rendered (\d+)/(\d+) Tiles|Tile (\d+)/(\d+))`)
	eeveeSample  = regexp.MustCompile(`\bRendering (\d+) / (\d+) samples`)
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
