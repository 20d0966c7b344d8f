package render

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Shell task states (taskState.State) before its children exist.
const (
	stateCreated   = "created"   // createTask: an id waiting for files and submitTask
	stateAnalysing = "analysing" // submitTask accepted: the scene is being analysed (status 50)
	stateSubmitted = "submitted" // children created
	stateFailed    = "failed"    // analysis failed (status 45), Error says why
)

// taskState is the shell job's Spec: what the client told us and what the analysis found.
type taskState struct {
	State          string   `json:"state"`
	Platform       int      `json:"platform"`
	OutUserID      int64    `json:"out_user_id,omitempty"`
	TaskUserLevel  int      `json:"task_user_level"`
	Labels         []string `json:"labels,omitempty"`
	Producer       string   `json:"producer,omitempty"`
	SceneName      string   `json:"scene_name,omitempty"`
	CgID           int      `json:"cg_id,omitempty"`
	Camera         string   `json:"camera,omitempty"`
	AllCameras     []string `json:"all_cameras,omitempty"`
	Width          int      `json:"width,omitempty"`
	Height         int      `json:"height,omitempty"`
	Tiles          int      `json:"tiles,omitempty"`
	Frames         string   `json:"frames,omitempty"`
	Ram            int      `json:"ram,omitempty"`
	ErrorCode      string   `json:"error_code,omitempty"`
	Error          string   `json:"error,omitempty"`
	SubmittedAt    int64    `json:"submitted_at,omitempty"` // ms
	OutputFileName string   `json:"output_file_name,omitempty"`
	// OverTimeSec is the per-frame limit setOverTimeStop set on the task, applied to children created
	// later (nil: none set).
	OverTimeSec *int64 `json:"over_time_sec,omitempty"`
}

// Frame types of a child's frames (childSpec.FrameType, queryTaskFrames' frameType).
const (
	framePriority = 4 // a priority (test) frame, rendered first
	frameMain     = 5 // a main frame
)

// childSpec is a child job's Spec.
type childSpec struct {
	TaskType  string `json:"task_type"`  // Render, or RenderPriority for the priority frames
	FrameType int    `json:"frame_type"` // framePriority or frameMain
	Frames    string `json:"frames"`
	Tiles     int    `json:"tiles"`
	TilesType string `json:"tiles_type,omitempty"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Camera    string `json:"camera,omitempty"`
	Format    string `json:"format,omitempty"`
	Scene     string `json:"scene"`
	CgID      int    `json:"cg_id"`
	Software  string `json:"software"`
	GPU       bool   `json:"gpu,omitempty"`
	// FramesPerTask > 1: each unit renders that many frames (frames_per_task), named "1,2,3".
	FramesPerTask int `json:"frames_per_task,omitempty"`
}

func stateOf(j store.Job) taskState {
	var s taskState
	// go-json: a task list decodes one spec per task and child, and this is several times faster.
	_ = gojson.Unmarshal(j.Spec, &s) // a shell's spec is only ever written by this package
	return s
}

func childOf(j store.Job) childSpec {
	var s childSpec
	_ = gojson.Unmarshal(j.Spec, &s)
	return s
}

// alias is the task's alias: the platform number, "W" and the id, like the document's "2W19097".
func alias(platform int, id int64) string {
	return strconv.Itoa(platform) + "W" + strconv.FormatInt(id, 10)
}

// ownJob loads a job of the render kinds that the caller may see; anything else is 404, so that
// another account's ids are indistinguishable from free ones.
func (a *API) ownJob(ctx context.Context, c *call, id int64) (store.Job, rules, error) {
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return store.Job{}, r, err
	}
	j, err := a.st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Job{}, r, notFound("task", id)
	}
	if err != nil {
		return store.Job{}, r, fmt.Errorf("load task %d: %w", id, err)
	}
	if (j.Kind != KindTask && j.Kind != KindRender) || !slices.Contains(r.visibleAccountIDs, j.AccountID) {
		return store.Job{}, r, notFound("task", id)
	}
	return j, r, nil
}

// childChunk is how many parents one children query asks for.
const childChunk = 500

// children lists the child jobs of shells, keyed by parent, ordered by id.
func (a *API) children(ctx context.Context, accountIDs []int64, parents []int64, withDeleted bool) (map[int64][]store.Job, error) {
	out := map[int64][]store.Job{}
	for chunk := range slices.Chunk(parents, childChunk) {
		// By parent alone, so that the parent index serves the query; the account check is kept below.
		jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{Kind: KindRender, ParentIDs: chunk, WithDeleted: withDeleted})
		if err != nil {
			return nil, fmt.Errorf("list child tasks: %w", err)
		}
		for _, j := range jobs {
			if slices.Contains(accountIDs, j.AccountID) {
				out[j.ParentID] = append(out[j.ParentID], j)
			}
		}
	}
	for _, list := range out {
		slices.SortFunc(list, func(x, y store.Job) int { return cmp.Compare(x.ID, y.ID) })
	}
	return out, nil
}

// targets resolves ids to the child jobs a control acts on: a shell's children, or a child itself.
func (a *API) targets(ctx context.Context, c *call, ids []int64) ([]store.Job, []store.Job, error) {
	var shells, kids []store.Job
	for _, id := range ids {
		j, r, err := a.ownJob(ctx, c, id)
		if err != nil {
			return nil, nil, err
		}
		if j.Kind == KindRender {
			kids = append(kids, j)
			continue
		}
		shells = append(shells, j)
		ch, err := a.children(ctx, r.visibleAccountIDs, []int64{j.ID}, true)
		if err != nil {
			return nil, nil, err
		}
		kids = append(kids, ch[j.ID]...)
	}
	return shells, kids, nil
}

func (a *API) createTask(ctx context.Context, c *call) (any, error) {
	count, err := c.p.int("count", false, 1)
	if err != nil {
		return nil, err
	}
	if count < 1 || count > 100 {
		return nil, invalid("count must be between 1 and 100")
	}
	outUser, err := c.p.int("outUserId", false, 0)
	if err != nil {
		return nil, err
	}
	level, err := c.p.int("taskUserLevel", false, 0)
	if err != nil {
		return nil, err
	}
	if level < 0 || level > maxTaskUserLevel {
		return nil, invalid("taskUserLevel must be between 0 and 100")
	}
	labels, err := c.p.strs("labels")
	if err != nil {
		return nil, err
	}
	if len(labels) > maxTaskLabels {
		return nil, invalid("labels holds at most %d names", maxTaskLabels)
	}
	for i, l := range labels {
		if labels[i] = strings.TrimSpace(l); labels[i] == "" || len(labels[i]) > 200 {
			return nil, invalid("label names must be 1 to 200 characters")
		}
	}
	s, err := settingsOf(c.account)
	if err != nil {
		return nil, err
	}
	// Every label exists as a label of the account (getLabelList), the first one is the project.
	for _, l := range labels {
		if err := a.putLabel(ctx, c.account.ID, l, ""); err != nil {
			return nil, err
		}
	}
	ids, aliases := []int64{}, []string{}
	for range count {
		st := taskState{State: stateCreated, Platform: s.Platform, OutUserID: outUser, TaskUserLevel: int(level), Labels: labels}
		project := ""
		if len(labels) > 0 {
			project = labels[0]
		}
		j, err := a.eng.Submit(ctx, engine.JobSpec{AccountID: c.account.ID, Kind: KindTask, Project: project,
			Priority: int(level), Spec: mustJSON(st)})
		if err != nil {
			return nil, fmt.Errorf("create task: %w", err)
		}
		ids = append(ids, j.ID)
		aliases = append(aliases, alias(s.Platform, j.ID))
	}
	return map[string]any{"aliasTaskIdList": aliases, "taskIdList": ids}, nil
}

// maxTaskLabels bounds createTask's labels.
const maxTaskLabels = 100

// taskFileNames are the files a client may attach to a task.
var taskFileNames = []string{"task.json", "upload.json", "asset.json", "tips.json"}

const recTaskFile = "render.taskfile"

func (a *API) taskJSONFile(ctx context.Context, c *call) (any, error) {
	id, err := c.p.int("taskId", true, 0)
	if err != nil {
		return nil, err
	}
	name, err := c.p.str("fileName", true)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(taskFileNames, name) {
		return nil, invalid("fileName must be one of %s", strings.Join(taskFileNames, ", "))
	}
	if !c.p.has("content") {
		return nil, missing("content")
	}
	var content json.RawMessage
	switch v := c.p["content"].(type) {
	case string: // the documented form: the JSON as text
		if !json.Valid([]byte(v)) {
			return nil, invalid("content of %s is not valid JSON", name)
		}
		content = json.RawMessage(v)
	case map[string]any, []any: // clients that send the object itself
		content = mustJSON(v)
	default:
		return nil, invalid("content must be the JSON text of %s", name)
	}
	j, _, err := a.ownJob(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if j.Kind != KindTask {
		return nil, invalid("task %d is a child task; attach files to its parent", id)
	}
	if err := a.putTaskFile(ctx, j, name, content); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *API) putTaskFile(ctx context.Context, j store.Job, name string, content json.RawMessage) error {
	key := fmt.Sprintf("%d/%s", j.ID, name)
	rec := store.Record{AccountID: j.AccountID, Kind: recTaskFile, Key: key, ParentID: j.ID, Data: content}
	if old, err := a.st.GetRecordByKey(ctx, j.AccountID, recTaskFile, key); err == nil {
		rec.ID = old.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load %s of task %d: %w", name, j.ID, err)
	}
	if _, err := a.st.PutRecord(ctx, rec, a.eng.Now()); err != nil {
		return fmt.Errorf("save %s of task %d: %w", name, j.ID, err)
	}
	return nil
}

func (a *API) taskFile(ctx context.Context, j store.Job, name string) (json.RawMessage, bool, error) {
	r, err := a.st.GetRecordByKey(ctx, j.AccountID, recTaskFile, fmt.Sprintf("%d/%s", j.ID, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load %s of task %d: %w", name, j.ID, err)
	}
	return r.Data, true, nil
}

// taskJSON is task.json; every value is a string in the clients' files, but numbers are tolerated.
type taskJSON struct {
	SoftwareConfig struct {
		CgName    string            `json:"cg_name"`
		CgVersion string            `json:"cg_version"`
		Plugins   map[string]string `json:"plugins"`
	} `json:"software_config"`
	TaskInfo        map[string]any `json:"task_info"`
	SceneInfo       sceneInfo      `json:"scene_info"`
	SceneInfoRender sceneInfo      `json:"scene_info_render"`
}

type sceneInfo struct {
	Common map[string]any `json:"common"`
}

func field(m map[string]any, name string) string {
	switch v := m[name].(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		if len(v) > 0 {
			if s, ok := v[0].(string); ok {
				return s
			}
		}
	}
	return ""
}

func intField(m map[string]any, name string, def int) (int, error) {
	s := field(m, name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid("task.json %s must be an integer, got %q", name, s)
	}
	return n, nil
}

// maxFramesPerUnit bounds frames_per_task (the agent's executor takes at most 1000 frames a unit).
const maxFramesPerUnit = 1000

// submission is what submitTask validated, handed to the analysis.
type submission struct {
	shell     store.Job
	account   store.Account
	software  Software
	version   string
	scene     string // blob hash
	sceneName string
	frames    []int // from task.json; nil: take the scene's range
	width     int
	height    int
	camera    string
	format    string
	tiles     int
	tilesType string
	preFrames string
	testStop  bool
	frameTime time.Duration
	taskTime  time.Duration
	ram       int
	// perUnit is frames_per_task: how many frames one unit renders (1 with tiles).
	perUnit int
	// project is task.json's project (project_name, else the label named by project_id); "" keeps
	// the task's own.
	project string
}

func (a *API) submitTask(ctx context.Context, c *call) (any, error) {
	id, err := c.p.int(c.p.first("taskId", "taskIds"), true, 0)
	if err != nil {
		return nil, err
	}
	producer, err := c.p.str("producer", false)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"assetIsolationModel", "outUserId"} {
		if _, err := c.p.int(name, false, 0); err != nil {
			return nil, err
		}
	}
	shell, _, err := a.ownJob(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if shell.Kind != KindTask {
		return nil, invalid("task %d is a child task; submit its parent", id)
	}
	if shell.Deleted || shell.Status.Terminal() {
		return nil, invalid("task %d was aborted or deleted", id)
	}
	st := stateOf(shell)
	if st.State != stateCreated && st.State != stateFailed {
		return nil, invalid("task %d was already submitted", id)
	}
	sub, err := a.validateSubmission(ctx, shell)
	if err != nil {
		return nil, err
	}
	sub.account = c.account
	st.State, st.Error, st.ErrorCode = stateAnalysing, "", ""
	st.Producer = producer
	st.SceneName = sub.sceneName
	st.CgID = sub.software.CgID
	st.SubmittedAt = a.eng.Now().UnixMilli()
	patch := engine.JobChange{Spec: mustJSON(st), Name: &sub.sceneName}
	if sub.project != "" {
		// The project is a label like createTask's labels: getLabelList lists it, a search finds it.
		if err := a.putLabel(ctx, shell.AccountID, sub.project, ""); err != nil {
			return nil, err
		}
		patch.Project = &sub.project
	}
	// The state and the analysis unit are one transaction: a task is never left in ANALYSE (50)
	// without an analysis that the engine sees to its end.
	_, err = a.eng.SubmitWith(ctx, a.analysisJob(shell, c.account.ID, sub.sceneName), func(tx engine.Tx, _ store.Job) error {
		_, err := tx.UpdateJob(ctx, shell.ID, patch)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start the analysis of task %d: %w", id, err)
	}
	return nil, nil
}

// validateSubmission checks what can be checked without opening the scene, so that a client hears
// about a missing scene, unknown software, a bad frame list or a blocking analysis error at once.
func (a *API) validateSubmission(ctx context.Context, shell store.Job) (submission, error) {
	raw, ok, err := a.taskFile(ctx, shell, "task.json")
	if err != nil {
		return submission{}, err
	}
	if !ok {
		return submission{}, apiErr(CodeMissing, "task.json of task %d has not been uploaded (taskJsonFile)", shell.ID)
	}
	var tj taskJSON
	if err := decodeNumbers(raw, &tj); err != nil {
		return submission{}, invalid("task.json is not a task description: %v", err)
	}
	if tj.TaskInfo == nil {
		return submission{}, apiErr(CodeMissing, "task.json has no task_info")
	}
	cat, err := a.catalog(ctx)
	if err != nil {
		return submission{}, err
	}
	if err := a.checkTips(ctx, shell, cat); err != nil {
		return submission{}, err
	}
	var sub submission
	// software: cg_id wins, cg_name is the fallback.
	cg, err := intField(tj.TaskInfo, "cg_id", 0)
	if err != nil {
		return submission{}, err
	}
	var found bool
	if cg != 0 {
		sub.software, found = cat.software(cg)
	} else if tj.SoftwareConfig.CgName != "" {
		sub.software, found = cat.softwareByName(tj.SoftwareConfig.CgName)
	} else {
		return submission{}, apiErr(CodeMissing, "task.json names no software (task_info.cg_id or software_config.cg_name)")
	}
	if !found {
		return submission{}, invalid("10020: render software %d %q is not supported (querySupportedSoftware)", cg, tj.SoftwareConfig.CgName)
	}
	if v := tj.SoftwareConfig.CgVersion; v != "" {
		if !slices.ContainsFunc(sub.software.Versions, func(sv SoftVersion) bool { return sv.CgVersion == v }) {
			return submission{}, invalid("10020: %s %s is not supported (querySupportedPlugin)", sub.software.CgName, v)
		}
		sub.version = v
	}
	// scene file: input_cg_file through upload.json to a transferred file.
	input := field(tj.TaskInfo, "input_cg_file")
	if input == "" {
		return submission{}, apiErr(CodeMissing, "10010: task.json task_info.input_cg_file is required")
	}
	serverPath, err := a.resolveUpload(ctx, shell, input)
	if err != nil {
		return submission{}, err
	}
	f, err := a.getFile(ctx, shell.AccountID, serverPath)
	if err != nil {
		return submission{}, err
	}
	if f == nil {
		return submission{}, invalid("10010: scene file %s (%s) has not been uploaded", input, serverPath)
	}
	sub.scene = f.Hash
	sub.sceneName = path.Base(strings.ReplaceAll(input, `\`, "/"))
	// what to render: scene_info_render wins over scene_info.
	common := tj.SceneInfo.Common
	if tj.SceneInfoRender.Common != nil {
		common = tj.SceneInfoRender.Common
	}
	if common == nil {
		common = map[string]any{}
	}
	if fr := field(common, "frames"); fr != "" {
		if sub.frames, err = ParseFrames(fr); err != nil {
			return submission{}, invalid("10030: %v", err)
		}
	}
	if sub.width, err = intField(common, "width", 0); err != nil {
		return submission{}, err
	}
	if sub.height, err = intField(common, "height", 0); err != nil {
		return submission{}, err
	}
	if sub.width < 0 || sub.height < 0 || sub.width > 65536 || sub.height > 65536 {
		return submission{}, invalid("width and height must be between 1 and 65536")
	}
	sub.camera = field(common, "camera_name")
	sub.format = strings.ToUpper(field(common, "Render_Format"))
	ti := tj.TaskInfo
	if sub.tiles, err = intField(ti, "tiles", 1); err != nil {
		return submission{}, err
	}
	if sub.tiles < 1 || sub.tiles > 256 {
		return submission{}, invalid("tiles must be between 1 and 256")
	}
	sub.tilesType = field(ti, "tiles_type")
	if sub.tilesType != "" && sub.tilesType != "block" && sub.tilesType != "strip" {
		return submission{}, invalid("tiles_type must be block or strip")
	}
	sub.preFrames = field(ti, "pre_frames")
	if sub.frames != nil {
		if _, err := priorityFrames(sub.preFrames, sub.frames); err != nil {
			return submission{}, invalid("%v", err)
		}
	}
	switch field(ti, "stop_after_test") {
	case "", "0", "2":
	case "1":
		sub.testStop = true
	default:
		return submission{}, invalid("stop_after_test must be 1 (stop) or 2 (carry on)")
	}
	jst, err := intField(ti, "job_stop_time", 0)
	if err != nil {
		return submission{}, err
	}
	tst, err := intField(ti, "task_stop_time", 0)
	if err != nil {
		return submission{}, err
	}
	if jst < 0 || tst < 0 {
		return submission{}, invalid("job_stop_time and task_stop_time must not be negative")
	}
	sub.frameTime, sub.taskTime = time.Duration(jst)*time.Second, time.Duration(tst)*time.Second
	if sub.ram, err = intField(ti, "ram", 0); err != nil {
		return submission{}, err
	}
	if sub.perUnit, err = intField(ti, "frames_per_task", 1); err != nil {
		return submission{}, err
	}
	if sub.perUnit < 1 || sub.perUnit > maxFramesPerUnit {
		return submission{}, invalid("frames_per_task must be between 1 and %d", maxFramesPerUnit)
	}
	if sub.tiles > 1 {
		sub.perUnit = 1 // a tiled frame is already split across nodes
	}
	if sub.project, err = a.taskJSONProject(ctx, shell.AccountID, ti); err != nil {
		return submission{}, err
	}
	return sub, nil
}

// taskJSONProject reads the project task.json names (the SDK's submit_by_data writes project_name
// and project_id): the name wins; an id alone names one of the account's labels (getLabelList's
// projectId); "0" or empty is none.
func (a *API) taskJSONProject(ctx context.Context, accountID int64, ti map[string]any) (string, error) {
	if name := field(ti, "project_name"); name != "" {
		if len(name) > 200 {
			return "", invalid("task.json project_name must be at most 200 characters")
		}
		return name, nil
	}
	id := field(ti, "project_id")
	if id == "" || id == "0" {
		return "", nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return "", invalid("task.json project_id must be an integer, got %q", id)
	}
	rec, err := facade.GetDoc[labelData](ctx, a.st, accountID, recLabel, n)
	if errors.Is(err, store.ErrNotFound) {
		return "", notFound("label (task.json project_id)", n)
	}
	if err != nil {
		return "", fmt.Errorf("load label %d: %w", n, err)
	}
	return rec.Key, nil
}

// checkTips refuses a submission whose tips.json carries an error (errorTypeError) code.
func (a *API) checkTips(ctx context.Context, shell store.Job, cat Catalog) error {
	raw, ok, err := a.taskFile(ctx, shell, "tips.json")
	if err != nil || !ok {
		return err
	}
	var tips map[string]any
	if err := json.Unmarshal(raw, &tips); err != nil {
		return invalid("tips.json must be an object of code -> detail: %v", err)
	}
	codes := make([]string, 0, len(tips))
	for code := range tips {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		if e, ok := cat.errorCode(code); ok && e.Type == errorTypeError {
			return invalid("analysis error %s (%s: %v) cannot be ignored: %s", code, e.DescriptionEN, tips[code], e.SolutionEN)
		}
	}
	return nil
}

// resolveUpload maps the client's scene path to a server path through upload.json; a path that
// upload.json does not list is taken as a server path itself.
func (a *API) resolveUpload(ctx context.Context, shell store.Job, local string) (string, error) {
	raw, ok, err := a.taskFile(ctx, shell, "upload.json")
	if err != nil {
		return "", err
	}
	norm := func(p string) string { return strings.ToLower(strings.ReplaceAll(p, `\`, "/")) }
	if ok {
		var up struct {
			Asset []struct {
				Local  string `json:"local"`
				Server string `json:"server"`
			} `json:"asset"`
		}
		if err := json.Unmarshal(raw, &up); err != nil {
			return "", invalid("upload.json: %v", err)
		}
		for _, as := range up.Asset {
			if norm(as.Local) == norm(local) || norm(as.Server) == norm(local) {
				return cleanPath(as.Server)
			}
		}
	}
	return cleanPath(local)
}

// analysisFailed records a failed analysis on the task: status 45 with the code and the reason.
func (a *API) analysisFailed(ctx context.Context, shell store.Job, err error) {
	ctx = context.WithoutCancel(ctx)
	code, msg := "10011", err.Error()
	var e *Error
	if errors.As(err, &e) {
		msg = e.Msg
		if c, rest, ok := strings.Cut(msg, ": "); ok && len(c) == 5 {
			code, msg = c, rest
		}
	}
	a.log.Info("render task analysis failed", "task", shell.ID, "err", err)
	if cur, gerr := a.st.GetJob(ctx, shell.ID); gerr == nil {
		shell = cur // keep what changed meanwhile (level, time limit)
	}
	st := stateOf(shell)
	st.State, st.ErrorCode, st.Error = stateFailed, code, msg
	if _, perr := a.eng.UpdateJob(ctx, shell.ID, engine.JobChange{Spec: mustJSON(st)}); perr != nil {
		a.log.Error("record failed analysis", "task", shell.ID, "err", perr)
	}
}

// errTaskEnded: the task was aborted or deleted while its scene was analysed, so it gets no children.
var errTaskEnded = errors.New("the task was aborted or deleted during its analysis")

func (a *API) startChildren(ctx context.Context, sub *submission) error {
	var scene *sceneAnalysis
	if sub.software.CgID == cgBlender {
		info, err := a.analyseBlend(ctx, sub.scene)
		switch {
		case errors.Is(err, errNoBlender):
			// No Blender on the server: task.json's scene_info is all we know.
		case err != nil:
			return invalid("10011: %v", err)
		default:
			scene = &info
		}
	}
	// The shell is read again: setOverTimeStop, updateTaskUserLevel or a label may have changed it
	// while the scene was analysed.
	shell, err := a.st.GetJob(ctx, sub.shell.ID)
	if err != nil {
		return fmt.Errorf("reload task %d: %w", sub.shell.ID, err)
	}
	plan, err := planTask(*sub, scene, shell)
	if errors.Is(err, errTaskEnded) {
		a.log.Info("render task ended during its analysis; no frames are created", "task", shell.ID)
	}
	if err != nil {
		return err
	}
	*sub = plan.sub
	var prevID int64
	for _, c := range plan.children {
		spec := c.spec
		if c.waitForPrevious {
			spec.WaitFor = prevID
		}
		j, err := a.eng.Submit(ctx, spec)
		if err != nil {
			return fmt.Errorf("create %s child of task %d: %w", c.role, sub.shell.ID, err)
		}
		prevID = j.ID
	}
	stopped, frameTime := plan.stopped, plan.frameTime
	// Read once more: a limit set or a control applied while the children were being created must
	// reach them too.
	if shell, err = a.st.GetJob(ctx, sub.shell.ID); err != nil {
		return fmt.Errorf("reload task %d: %w", sub.shell.ID, err)
	}
	if err := a.holdChildren(ctx, shell, stopped); err != nil {
		return err
	}
	if shell.Priority != sub.shell.Priority { // fullSpeed or updateTaskUserLevel meanwhile
		kids, err := a.children(ctx, []int64{shell.AccountID}, []int64{shell.ID}, true)
		if err != nil {
			return err
		}
		for _, k := range kids[shell.ID] {
			if err := a.eng.SetPriority(ctx, k.ID, shell.Priority); err != nil {
				return fmt.Errorf("set priority of task %d: %w", k.ID, err)
			}
		}
	}
	st := stateOf(shell)
	if ot := st.OverTimeSec; ot != nil && time.Duration(*ot)*time.Second != frameTime {
		d := time.Duration(*ot) * time.Second
		kids, err := a.children(ctx, []int64{shell.AccountID}, []int64{shell.ID}, true)
		if err != nil {
			return err
		}
		for _, k := range kids[shell.ID] {
			if _, err := a.eng.UpdateJob(ctx, k.ID, engine.JobChange{UnitTimeout: &d}); err != nil {
				return fmt.Errorf("set time limit of task %d: %w", k.ID, err)
			}
		}
	}
	st.AllCameras = stateOf(sub.shell).AllCameras
	st.State = stateSubmitted
	st.Camera, st.Width, st.Height, st.Tiles = sub.camera, sub.width, sub.height, sub.tiles
	st.Frames = FormatFrames(sub.frames)
	st.Ram = sub.ram
	st.OutputFileName = fmt.Sprintf("%d_%s", sub.shell.ID, strings.TrimSuffix(sub.sceneName, path.Ext(sub.sceneName)))
	if _, err := a.eng.UpdateJob(ctx, sub.shell.ID, engine.JobChange{Spec: mustJSON(st)}); err != nil {
		return fmt.Errorf("mark task %d submitted: %w", sub.shell.ID, err)
	}
	return nil
}

func pauseReasonIf(paused bool, reason engine.PauseReason) engine.PauseReason {
	if paused {
		return reason
	}
	return ""
}

// holdChildren applies to the children of shell the control the parent carries: deleted, aborted,
// stopped, or (createdStopped) started again after its children were created stopped. The control
// itself (control.go) writes the parent before it lists the children; this runs after the children
// were written, so a control that did not see them is applied here.
func (a *API) holdChildren(ctx context.Context, shell store.Job, createdStopped bool) error {
	if !shell.Deleted && !shell.Status.Terminal() && (shell.Status == store.JobPaused) == createdStopped {
		return nil // nothing changed since the children were created
	}
	kids, err := a.children(ctx, []int64{shell.AccountID}, []int64{shell.ID}, true)
	if err != nil {
		return err
	}
	for _, k := range kids[shell.ID] {
		var err error
		switch {
		case shell.Deleted:
			err = a.eng.Delete(ctx, k.ID)
		case shell.Status.Terminal():
			if !k.Status.Terminal() {
				err = a.eng.Abort(ctx, k.ID)
			}
		case shell.Status == store.JobPaused:
			if !k.Status.Terminal() && k.Status != store.JobPaused {
				err = a.eng.Pause(ctx, k.ID, "user")
			}
		case k.Status == store.JobPaused && engine.ReasonOf(k) == engine.PauseUser:
			err = a.eng.Resume(ctx, k.ID)
		}
		if err != nil && !errors.Is(err, engine.ErrInvalid) {
			return fmt.Errorf("apply the control of task %d to %d: %w", shell.ID, k.ID, err)
		}
	}
	return nil
}
