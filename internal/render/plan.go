package render

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/imaging"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// Planning a task: what its analysis creates, as a function of what was submitted and found. It does
// no I/O, so that every rule of how frames, cameras, tiles and limits become jobs and units is read
// (and tested, plan_test.go) in one place; startChildren analyses the scene, reads the task and
// creates what the plan says.

// taskPlan is what a task's analysis creates.
type taskPlan struct {
	// sub is the submission completed by the scene analysis (frames, resolution, camera, format,
	// the cameras on the task's state) and by the task as it is now (project, priority).
	sub submission
	// children are the jobs to create, in this order.
	children []plannedChild
	// stopped: the task was stopped during its analysis, so its children are created stopped.
	stopped bool
	// frameTime is the per-frame time limit the children carry.
	frameTime time.Duration
}

// plannedChild is one child job of a task.
type plannedChild struct {
	spec engine.JobSpec
	role string // names the child in errors: "priority" or "render"
	// waitForPrevious: the child waits for the one created before it, whose id is known only once
	// it is created (spec.WaitFor).
	waitForPrevious bool
}

// planTask plans the children of a task from its validated submission, the scene analysis (nil: none
// ran, task.json's scene_info is all there is) and the task as read after the analysis (parent: a
// control or a limit may have changed it meanwhile). An aborted or deleted task gets none
// (errTaskEnded).
func planTask(sub submission, scene *sceneAnalysis, parent store.Job) (taskPlan, error) {
	if scene != nil {
		if sub.frames == nil {
			for f := scene.FrameStart; f <= scene.FrameEnd; f += max(scene.FrameStep, 1) {
				sub.frames = append(sub.frames, f)
			}
		}
		if sub.width == 0 || sub.height == 0 {
			sub.width, sub.height = scene.Width, scene.Height
		}
		if sub.camera == "" {
			sub.camera = scene.Camera
		}
		if sub.format == "" {
			sub.format = scene.Format
		}
		st := stateOf(sub.shell)
		st.AllCameras = scene.Cameras
		sub.shell.Spec = mustJSON(st)
	}
	if len(sub.frames) == 0 {
		return taskPlan{}, invalid("10030: no frame range: task.json scene_info.common.frames is empty and the scene could not be analysed")
	}
	if sub.tiles > 1 && (sub.width == 0 || sub.height == 0) {
		return taskPlan{}, invalid("10030: tiles need the resolution: task.json scene_info.common width and height")
	}
	switch sub.format {
	case "", "PNG":
		sub.format = "PNG"
	case "EXR", "OPEN_EXR":
		sub.format = "OPEN_EXR"
	default:
		// Outputs are PNG unless the client asks for EXR: other formats are rendered as PNG so that
		// progress images and thumbnails work.
		sub.format = "PNG"
	}
	pre, err := priorityFrames(sub.preFrames, sub.frames)
	if err != nil {
		return taskPlan{}, invalid("10030: %v", err)
	}
	rest := slices.DeleteFunc(slices.Clone(sub.frames), func(f int) bool { return slices.Contains(pre, f) })

	s, err := settingsOf(sub.account)
	if err != nil {
		return taskPlan{}, err
	}
	// A control applied while the scene was analysed holds: an aborted or deleted task gets no
	// children, a stopped one gets them stopped.
	if parent.Deleted || parent.Status.Terminal() {
		return taskPlan{}, errTaskEnded
	}
	stopped := parent.Status == store.JobPaused
	frameTime := sub.frameTime
	if frameTime == 0 {
		frameTime = time.Duration(s.TaskOverTime) * time.Hour
	}
	if ot := stateOf(parent).OverTimeSec; ot != nil {
		frameTime = time.Duration(*ot) * time.Second
	}
	sub.shell.Project, sub.shell.Priority = parent.Project, parent.Priority
	base := engine.JobSpec{
		AccountID: sub.shell.AccountID, ParentID: sub.shell.ID, Kind: KindRender, Name: sub.sceneName,
		Project: sub.shell.Project, Priority: sub.shell.Priority, MaxAttempts: 3, BlocklistAfter: 3,
		UnitTimeout: engine.Duration(frameTime), JobTimeout: engine.Duration(sub.taskTime),
		Paused: stopped, PauseReason: pauseReasonIf(stopped, engine.PauseUser),
	}
	plan := taskPlan{stopped: stopped, frameTime: frameTime}
	if len(pre) > 0 {
		spec := base
		spec.Spec = mustJSON(childSpecFor(&sub, "RenderPriority", framePriority, pre))
		spec.Units = unitsFor(&sub, pre)
		plan.children = append(plan.children, plannedChild{spec: spec, role: "priority"})
	}
	if len(rest) > 0 {
		spec := base
		spec.Spec = mustJSON(childSpecFor(&sub, "Render", frameMain, rest))
		spec.Units = unitsFor(&sub, rest)
		c := plannedChild{spec: spec, role: "render"}
		switch {
		case len(pre) > 0 && sub.testStop:
			// The main frames wait for the user to look at the test frames and start the task.
			c.spec.Paused, c.spec.PauseReason = true, engine.PauseTest
		case len(pre) > 0:
			c.waitForPrevious = true
		}
		plan.children = append(plan.children, c)
	}
	plan.sub = sub
	return plan, nil
}

func childSpecFor(sub *submission, taskType string, frameType int, frames []int) childSpec {
	return childSpec{
		TaskType: taskType, FrameType: frameType, Frames: FormatFrames(frames), Tiles: sub.tiles,
		TilesType: sub.tilesType, Width: sub.width, Height: sub.height, Camera: sub.camera, Format: sub.format,
		Scene: sub.scene, CgID: sub.software.CgID, Software: strings.TrimSpace(sub.software.CgName + " " + sub.version),
		FramesPerTask: sub.perUnit,
	}
}

// unitsFor makes one unit per frame, or per block of a frame when the task is tiled. Unit names are
// the frame ("12") or the frame and the 1-based block ("12-3"), which queryTaskFrames shows and
// searches.
func unitsFor(sub *submission, frames []int) []engine.UnitSpec {
	borders := []imaging.Border{{MinX: 0, MaxX: 1, MinY: 0, MaxY: 1}}
	if sub.tiles > 1 {
		borders = imaging.BlockBorders(sub.tiles, imaging.Split(sub.tilesType))
	}
	var res []int
	if sub.width > 0 && sub.height > 0 {
		res = []int{sub.width, sub.height}
	}
	if sub.perUnit > 1 && len(borders) == 1 {
		return groupedUnits(sub, frames, res)
	}
	units := make([]engine.UnitSpec, 0, len(frames)*len(borders))
	for _, f := range frames {
		for bi, b := range borders {
			name := strconv.Itoa(f)
			var border *imaging.Border
			if len(borders) > 1 {
				name = fmt.Sprintf("%d-%d", f, bi+1)
				border = &b
			}
			var spec json.RawMessage
			if sub.software.Capability == "blender" {
				spec = mustJSON(unitspec.Blender{Scene: sub.scene, Frame: f, Format: sub.format, Resolution: res,
					Camera: sub.camera, Border: border})
			} else {
				// Other software runs through per-software command templates on agents that have it.
				spec = mustJSON(map[string]any{"software": sub.software.CgName, "version": sub.version,
					"scene": sub.scene, "frame": f, "resolution": res, "camera": sub.camera, "border": border})
			}
			units = append(units, engine.UnitSpec{Name: name, Capability: sub.software.Capability, Spec: spec})
		}
	}
	return units
}

// groupedUnits makes one unit per frames_per_task frames, in the order of the frame list; the unit
// is named by its frames ("1,2,3"), which queryTaskFrames shows and searches.
func groupedUnits(sub *submission, frames []int, res []int) []engine.UnitSpec {
	var units []engine.UnitSpec
	for group := range slices.Chunk(frames, sub.perUnit) {
		names := make([]string, len(group))
		for i, f := range group {
			names[i] = strconv.Itoa(f)
		}
		group = slices.Clone(group)
		var list []int
		if len(group) > 1 {
			list = group // a group of one is a plain frame unit, outputs "image" and "thumbnail"
		}
		var spec json.RawMessage
		if sub.software.Capability == "blender" {
			spec = mustJSON(unitspec.Blender{Scene: sub.scene, Frame: group[0], Frames: list, Format: sub.format,
				Resolution: res, Camera: sub.camera})
		} else {
			spec = mustJSON(map[string]any{"software": sub.software.CgName, "version": sub.version,
				"scene": sub.scene, "frame": group[0], "frames": list, "resolution": res, "camera": sub.camera})
		}
		units = append(units, engine.UnitSpec{Name: strings.Join(names, ","), Capability: sub.software.Capability, Spec: spec})
	}
	return units
}
