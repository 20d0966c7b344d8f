package render

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// A submitted task's scene is analysed by a unit of capability capAnalyse in a job of kind
// KindAnalysis, a child of the task that the dialect never shows. The render facade of every server
// runs an in-process worker that leases those units (engine.StartInProcess), so the engine gives the
// analysis its lease, its time limit, its retries and its takeover by another server after a crash or
// a shutdown. The task itself shows ANALYSE (50) from its own state (stateAnalysing), which
// submitTask writes in the transaction that creates the analysis job.
const (
	// KindAnalysis is the job holding a task's scene analysis.
	KindAnalysis = "render.analysis"
	// capAnalyse is the capability of the analysis unit, served by the render facade's in-process
	// worker.
	capAnalyse = engine.InProcessPrefix + "render-analyse"
	// analysisAttempts bounds how often an analysis is started (servers crashing under it, store
	// errors); a Blender error fails the task at once.
	analysisAttempts = 3
)

// analysisSpec is the analysis unit's spec.
type analysisSpec struct {
	Task int64 `json:"task"`
	// Account submitted the task: its settings (the per-frame limit) apply to the children.
	Account int64 `json:"account"`
}

// analysisJob is the spec of the job that analyses shell's scene for the account that submitted it.
func (a *API) analysisJob(shell store.Job, submitter int64, name string) engine.JobSpec {
	return engine.JobSpec{AccountID: shell.AccountID, ParentID: shell.ID, Kind: KindAnalysis, Name: name,
		Priority: shell.Priority, MaxAttempts: analysisAttempts,
		// The engine's backstop: a handler past its own limit (AnalysisTimeout) is stopped by the sweep.
		UnitTimeout: engine.Duration(a.cfg.AnalysisTimeout + time.Minute),
		Units: []engine.UnitSpec{{Name: "analyse", Capability: capAnalyse,
			Spec: mustJSON(analysisSpec{Task: shell.ID, Account: submitter})}}}
}

// analyse is the in-process handler of analysis units: it analyses the task's scene and creates its
// children, or records why it could not (status 45). It may run again for the same task (a server
// died before its report): a task whose children exist only has its state completed from them.
func (a *API) analyse(ctx context.Context, u store.Unit) (json.RawMessage, error) {
	var spec analysisSpec
	if err := json.Unmarshal(u.Spec, &spec); err != nil {
		return nil, fmt.Errorf("%w: analysis unit %d: %v", engine.ErrPermanent, u.ID, err)
	}
	shell, err := a.st.GetJob(ctx, spec.Task)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // purged: nothing left to analyse
	}
	if err != nil {
		return nil, fmt.Errorf("load task %d: %w", spec.Task, err)
	}
	if shell.Deleted || shell.Status.Terminal() {
		// Aborted or deleted meanwhile: children created before then end with it, and so does this
		// analysis, as the control would have ended it had it come a moment later (its own report is
		// then stale, which the engine expects).
		if err := a.holdChildren(ctx, shell, false); err != nil {
			return nil, err
		}
		return nil, a.endAnalysis(ctx, shell, shell.Deleted)
	}
	st := stateOf(shell)
	if st.State != stateAnalysing {
		return nil, nil // this analysis already reached its end
	}
	kids, err := a.children(ctx, []int64{shell.AccountID}, []int64{shell.ID}, true)
	if err != nil {
		return nil, err
	}
	if len(kids[shell.ID]) > 0 {
		return nil, a.finishFromChildren(ctx, shell, kids[shell.ID])
	}
	acct, err := a.st.GetAccount(ctx, cmp.Or(spec.Account, shell.AccountID))
	if errors.Is(err, store.ErrNotFound) && spec.Account != shell.AccountID {
		acct, err = a.st.GetAccount(ctx, shell.AccountID) // the submitter is gone: the task's own settings
	}
	if err != nil {
		return nil, fmt.Errorf("load account of task %d: %w", shell.ID, err)
	}
	sub, err := a.validateSubmission(ctx, shell)
	if err != nil {
		var refused *Error
		if !errors.As(err, &refused) {
			return nil, err // a store error: the engine retries
		}
		// What was valid at submission is not any more (a file was replaced): the task fails with why.
		a.analysisFailed(ctx, shell, err)
		return nil, nil
	}
	sub.account, sub.shell = acct, shell
	actx, cancel := context.WithTimeout(ctx, a.cfg.AnalysisTimeout)
	defer cancel()
	err = a.startChildren(actx, &sub)
	switch {
	case err == nil || errors.Is(err, errTaskEnded):
		return nil, nil
	case ctx.Err() != nil:
		// The server is stopping (another takes the analysis over) or the engine took the unit back:
		// no verdict on the task.
		return nil, ctx.Err()
	}
	a.analysisFailed(ctx, shell, err)
	return nil, nil
}

// finishFromChildren completes the state of a task whose children were created by an analysis that
// did not get to record it.
func (a *API) finishFromChildren(ctx context.Context, shell store.Job, kids []store.Job) error {
	a.log.Info("completing the state of a task whose analysis created its children", "task", shell.ID)
	st := stateOf(shell)
	var frames []int
	stopped := false
	for _, k := range kids {
		stopped = stopped || (k.Status == store.JobPaused && k.PauseReason == "user")
		cs := childOf(k)
		f, _ := ParseFrames(cs.Frames)
		frames = append(frames, f...)
		st.Camera, st.Width, st.Height, st.Tiles = cs.Camera, cs.Width, cs.Height, cs.Tiles
	}
	slices.Sort(frames)
	if err := a.holdChildren(ctx, shell, stopped); err != nil {
		return err
	}
	st.State, st.Frames = stateSubmitted, FormatFrames(frames)
	if _, err := a.eng.UpdateJob(ctx, shell.ID, engine.JobChange{Spec: mustJSON(st)}); err != nil {
		return fmt.Errorf("mark task %d submitted: %w", shell.ID, err)
	}
	return nil
}

// analysisEnded is KindAnalysis's JobFinished hook. An analysis job that ended without its handler
// reaching a verdict (out of attempts, past its time limit, cancelled by other means than the task's
// own abort or delete) leaves its task failed (45) with why, never in ANALYSE (50) for ever.
func (a *API) analysisEnded(ctx context.Context, j store.Job) {
	if j.Status == store.JobSucceeded {
		return
	}
	shell, err := a.st.GetJob(ctx, j.ParentID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			a.log.Warn("load task of an ended analysis", "task", j.ParentID, "err", err)
		}
		return
	}
	if shell.Deleted || shell.Status.Terminal() || stateOf(shell).State != stateAnalysing {
		return
	}
	why := "the scene analysis did not finish"
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
	if err == nil && len(units) > 0 && units[0].Error != "" {
		why += ": " + units[0].Error
	}
	a.analysisFailed(ctx, shell, errors.New(why))
}

// endAnalysis aborts (or deletes) the analysis jobs of shell: the engine takes a running analysis
// back from its worker, which stops it.
func (a *API) endAnalysis(ctx context.Context, shell store.Job, del bool) error {
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{Kind: KindAnalysis, ParentIDs: []int64{shell.ID}, WithDeleted: true})
	if err != nil {
		return fmt.Errorf("list analyses of task %d: %w", shell.ID, err)
	}
	for _, j := range jobs {
		switch {
		case del && !j.Deleted:
			err = a.eng.Delete(ctx, j.ID)
		case !del && !j.Status.Terminal():
			err = a.eng.Abort(ctx, j.ID)
		}
		if err != nil && !errors.Is(err, engine.ErrInvalid) {
			return fmt.Errorf("end analysis of task %d: %w", shell.ID, err)
		}
	}
	return nil
}

// errNoBlender: the server has no Blender to analyse with.
var errNoBlender = errors.New("blender is not installed on the server")

// sceneAnalysis is what the server reads from a .blend.
type sceneAnalysis struct {
	Scene      string   `json:"scene"`
	Scenes     []string `json:"scenes"`
	FrameStart int      `json:"frame_start"`
	FrameEnd   int      `json:"frame_end"`
	FrameStep  int      `json:"frame_step"`
	Camera     string   `json:"camera"`
	Cameras    []string `json:"cameras"`
	Width      int      `json:"width"`
	Height     int      `json:"height"`
	Format     string   `json:"format"`
	Engine     string   `json:"engine"`
}

const analyseMarker = "TASKCENTER_ANALYSIS:"

// analyseScript prints the scene's facts as one marked JSON line; Blender's own chatter is ignored.
const analyseScript = `import bpy, json
s = bpy.context.scene
r = s.render
print("` + analyseMarker + `" + json.dumps({
 "scene": s.name, "scenes": [x.name for x in bpy.data.scenes],
 "frame_start": s.frame_start, "frame_end": s.frame_end, "frame_step": s.frame_step,
 "camera": s.camera.name if s.camera else "",
 "cameras": sorted(o.name for o in s.objects if o.type == "CAMERA"),
 "width": int(r.resolution_x * r.resolution_percentage / 100),
 "height": int(r.resolution_y * r.resolution_percentage / 100),
 "format": r.image_settings.file_format, "engine": r.engine}))
`

// analyseBlend runs Blender in the background on the scene blob and reads its frame range, cameras,
// resolution and output format. Ruling: the server analyses .blend files itself when Blender is
// installed next to it (it is cheap: the file is only loaded); otherwise task.json's scene_info is
// used as sent.
func (a *API) analyseBlend(ctx context.Context, hash string) (sceneAnalysis, error) {
	bin, err := exec.LookPath(a.cfg.Blender)
	if err != nil {
		return sceneAnalysis{}, errNoBlender
	}
	dir, err := os.MkdirTemp("", "taskcenter-analyse-")
	if err != nil {
		return sceneAnalysis{}, fmt.Errorf("analysis scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	scene := filepath.Join(dir, "scene.blend")
	if err := a.copyBlob(ctx, hash, scene); err != nil {
		return sceneAnalysis{}, err
	}
	cmd := exec.CommandContext(ctx, bin, "-b", "--factory-startup", scene, "--python-exit-code", "1", "--python-expr", analyseScript)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return sceneAnalysis{}, fmt.Errorf("the scene cannot be opened by Blender: %v: %s", err, tailText(out.String(), 500))
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), analyseMarker); ok {
			var info sceneAnalysis
			if err := json.Unmarshal([]byte(rest), &info); err != nil {
				return sceneAnalysis{}, fmt.Errorf("read analysis: %w", err)
			}
			return info, nil
		}
	}
	return sceneAnalysis{}, fmt.Errorf("the scene cannot be opened by Blender: %s", tailText(out.String(), 500))
}

func (a *API) copyBlob(ctx context.Context, hash, dst string) error {
	rc, _, err := a.blobs.Open(ctx, hash)
	if err != nil {
		return fmt.Errorf("open scene blob %s: %w", hash, err)
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("write scene copy: %w", err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("write scene copy: %w", err)
	}
	return f.Close()
}

func tailText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// recLegacyAnalysis is the mark that servers before the analysis became a unit kept on a task in
// analysis (key: the task id, data: {"deadline": ms}, 0 after a shutdown). adoptLegacyAnalyses hands
// each one whose server is gone to the engine as an analysis unit, so that an upgrade leaves no task
// in ANALYSE (50) for ever. It can go once no database holds such a mark.
const recLegacyAnalysis = "render.analysis"

// legacyAnalysesService names the leader's service that runs adoptLegacyAnalyses.
const legacyAnalysesService = "render.legacy-analyses"

// adoptLegacyAnalyses turns the legacy marks whose deadline passed into analysis units.
func (a *API) adoptLegacyAnalyses(ctx context.Context) error {
	recs, _, err := a.st.ListRecords(ctx, store.RecordFilter{Kind: recLegacyAnalysis, ParentID: -1, Limit: 100})
	if err != nil {
		return fmt.Errorf("list legacy analysis marks: %w", err)
	}
	for _, rec := range recs {
		var mark struct {
			Deadline int64 `json:"deadline"`
		}
		_ = json.Unmarshal(rec.Data, &mark) // a bad one is adopted
		if mark.Deadline > a.eng.Now().UnixMilli() {
			continue // an older server still runs it
		}
		shell, err := a.st.GetJob(ctx, rec.ParentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("load task %d: %w", rec.ParentID, err)
		}
		if err != nil || shell.Deleted || shell.Status.Terminal() || stateOf(shell).State != stateAnalysing {
			if err == nil && (shell.Deleted || shell.Status.Terminal()) {
				if err := a.holdChildren(ctx, shell, false); err != nil {
					return err
				}
			}
			if err := a.st.DeleteRecord(ctx, rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("remove legacy analysis mark of task %d: %w", rec.ParentID, err)
			}
			continue
		}
		// The mark goes in the transaction that creates the unit: a replica adopting it at the same
		// time finds it gone, and its transaction creates nothing.
		_, err = a.eng.SubmitWith(ctx, a.analysisJob(shell, shell.AccountID, shell.Name), func(tx engine.Tx, _ store.Job) error {
			return tx.Records().DeleteRecord(ctx, rec.ID)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("adopt the analysis of task %d: %w", rec.ParentID, err)
		}
		if err == nil {
			a.log.Info("handed an analysis left by an older server to the engine", "task", shell.ID)
		}
	}
	return nil
}
