// Package unitspec holds the specs and results of the agents' executor units (blender, shell, rpa, recorder):
// what a facade writes into a unit and what the executor reads from it, and what the executor
// reports back and the facade reads. They are wire types, defined once here so that a facade and
// the executor cannot drift apart; the executors (internal/agent/executor) and the facades (render,
// rpa, and the dialects to come) both use them.
package unitspec

import (
	"strconv"
	"strings"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/imaging"
)

// Output formats of a blender unit.
const (
	FormatPNG = "PNG"
	FormatEXR = "OPEN_EXR"
)

// Blender is the spec of a blender unit: render one frame of a scene, or one border block of it,
// or several frames in one Blender run (frames, for farms that group frames per unit).
//
//	{"scene": "<blob hash of the .blend>", "frame": 12, "format": "PNG",
//	 "scene_name": "Scene", "engine": "CYCLES", "samples": 64, "resolution": [1920, 1080],
//	 "camera": "Camera", "border": {"min_x": 0, "max_x": 0.5, "min_y": 0.5, "max_y": 1}}
//
// Only scene is required; frame defaults to 0. Optional fields override the file's settings. With a
// border (Blender's convention: fractions, y from the bottom) only that block is rendered and the
// output is just the block, of size imaging.Border.Rect(width, height).
//
// With frames (e.g. [1, 2, 3]) frame is ignored: the scene is loaded once and each frame rendered and
// uploaded as outputs "image.<frame>" and "thumbnail.<frame>" instead of "image" and "thumbnail".
type Blender struct {
	Scene      string          `json:"scene"`
	SceneName  string          `json:"scene_name,omitempty"`
	Frame      int             `json:"frame"`
	Frames     []int           `json:"frames,omitempty"`
	Format     string          `json:"format,omitempty"`  // PNG (default) or OPEN_EXR
	Engine     string          `json:"engine,omitempty"`  // CYCLES, BLENDER_EEVEE, BLENDER_WORKBENCH
	Samples    int             `json:"samples,omitempty"` // Cycles samples / Eevee TAA samples
	Resolution []int           `json:"resolution,omitempty"`
	Camera     string          `json:"camera,omitempty"`
	Border     *imaging.Border `json:"border,omitempty"`
}

// BlenderResult is the result of a blender unit. The image is uploaded as output "image" and, for a
// PNG, a thumbnail (longest side ThumbnailSize) as output "thumbnail".
type BlenderResult struct {
	Width  int             `json:"width"`  // of the uploaded image: the block's size for a border render
	Height int             `json:"height"` //
	File   string          `json:"file"`   // e.g. frame_00012.png
	Frame  int             `json:"frame"`
	Format string          `json:"format"`
	Border *imaging.Border `json:"border,omitempty"`
	// RenderSeconds is Blender's wall time, loading and saving included.
	RenderSeconds float64 `json:"render_seconds"`
	// Frames lists every frame's image when the spec asked for several frames; the fields above then
	// describe the first one.
	Frames []BlenderFrame `json:"frames,omitempty"`
}

// BlenderFrame is one frame of a several-frame unit, uploaded as OutputImage+"."+frame.
type BlenderFrame struct {
	Frame  int    `json:"frame"`
	File   string `json:"file"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Output names of a blender unit. OutputProgress ("progress", "progress.<frame>" in a several-frame
// unit) is a small, few-sample preview of a frame, uploaded while the frame itself renders; it is
// for watching a render, never a frame or a file of the result.
const (
	OutputImage     = "image"
	OutputThumbnail = "thumbnail"
	OutputProgress  = "progress"
	ThumbnailSize   = 256
)

// LiveImage picks, among a blender unit's output names, the image that shows best what it is
// rendering now: the preview of a frame whose thumbnail has not arrived, else the thumbnail of
// its last frame done (the highest frame, since a unit renders its frames in order), else "".
func LiveImage(names []string) string {
	has := make(map[string]bool, len(names))
	for _, n := range names {
		has[n] = true
	}
	best, bestFrame, bestPreview := "", -1, false
	for _, n := range names {
		kind, frame, ok := strings.Cut(n, ".")
		f := 0
		if ok {
			var err error
			if f, err = strconv.Atoi(frame); err != nil {
				continue
			}
		}
		var preview bool
		switch kind {
		case OutputProgress:
			thumb := OutputThumbnail
			if ok {
				thumb = FrameOutput(OutputThumbnail, f)
			}
			if has[thumb] {
				continue // the frame is done: its thumbnail stands for it
			}
			preview = true
		case OutputThumbnail:
		default:
			continue
		}
		// A preview (the frame rendering now) wins over thumbnails; among equals, the highest frame.
		if preview && !bestPreview || preview == bestPreview && f > bestFrame {
			best, bestFrame, bestPreview = n, f, preview
		}
	}
	return best
}

// MaxBlenderFrames bounds the frames of one unit.
const MaxBlenderFrames = 1000

// FrameOutput names the output of frame f of a several-frame unit ("image.12").
func FrameOutput(name string, f int) string { return name + "." + strconv.Itoa(f) }

// Shell is the spec of a shell unit:
//
//	{"command": ["prog", "arg {{frame}}"], "vars": {"frame": "12"}, "env": {"K": "V"},
//	 "dir": "", "outputs": ["out/result.png"]}
//
// Placeholders {{name}} in command, env values, dir and outputs are replaced from vars and from the
// built-ins {{workdir}} (the unit's scratch directory), {{unit_id}}, {{job_id}} and {{attempt}}; an
// unknown placeholder fails the unit permanently. The command runs directly, without a shell. Dir
// (default the scratch directory) is relative to the scratch directory unless absolute. After a
// zero exit each output (relative to dir) is uploaded; a missing output fails the unit. The output
// name is OutputName of the substituted path ("out/frame 7.png" -> "out_frame_7.png"), since the
// protocol allows only letters, digits, '.', '-' and '_' in names.
type Shell struct {
	Command []string          `json:"command"`
	Vars    map[string]string `json:"vars,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Outputs []string          `json:"outputs,omitempty"`
}

// ShellResult is the result of a successful shell unit.
type ShellResult struct {
	ExitCode int                                `json:"exit_code"`
	Outputs  map[string]agentapi.OutputResponse `json:"outputs,omitempty"`
}

// RPA is the spec of an rpa unit (one run of a published process), as the RPA facade writes it:
//
//	{"package": "<blob hash of the .ipkg>", "file": "1.0.0_invoice.ipkg", "entry": "sh main.sh",
//	 "procCode": "invoice", "procVer": "1.0.0", "candidates": ["bot1"], "ticket": "...",
//	 "params": "{...}", "env": {"K": "V"}}
//
// The package is a zip with manifest.json at its root; entry is the command line run inside the
// unpacked package (through /bin/sh -c, or cmd /C on Windows). Candidates are enforced by the
// engine (the unit carries the candidates' tags); the executor does not look at them.
type RPA struct {
	Package    string            `json:"package"`
	File       string            `json:"file"`
	Entry      string            `json:"entry"`
	ProcCode   string            `json:"procCode"`
	ProcVer    string            `json:"procVer"`
	Candidates []string          `json:"candidates,omitempty"`
	Ticket     string            `json:"ticket"`
	Params     string            `json:"params,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
}

// RPAResult is the result of a process that exited 0.
type RPAResult struct {
	ExitCode int    `json:"exit_code"`
	ProcCode string `json:"procCode"`
	ProcVer  string `json:"procVer"`
}
