package render

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// plannedSummary is what a test states about one planned child.
type plannedSummary struct {
	role        string
	taskType    string
	frameType   int
	frames      string
	units       []string
	wait        bool
	paused      engine.PauseReason // "" when not paused
	unitTimeout time.Duration
}

func summarise(p taskPlan) []plannedSummary {
	var out []plannedSummary
	for _, c := range p.children {
		var cs childSpec
		_ = json.Unmarshal(c.spec.Spec, &cs)
		s := plannedSummary{role: c.role, taskType: cs.TaskType, frameType: cs.FrameType, frames: cs.Frames,
			wait: c.waitForPrevious, unitTimeout: time.Duration(c.spec.UnitTimeout)}
		if c.spec.Paused {
			s.paused = c.spec.PauseReason
		}
		for _, u := range c.spec.Units {
			s.units = append(s.units, u.Name)
		}
		out = append(out, s)
	}
	return out
}

func TestPlanTask(t *testing.T) {
	blender := Software{CgID: cgBlender, CgName: "Blender", Capability: "blender"}
	base := func() submission {
		return submission{
			shell:    store.Job{ID: 10, AccountID: 7, Kind: KindTask, Spec: mustJSON(taskState{State: stateAnalysing})},
			account:  store.Account{ID: 7},
			software: blender, version: "4.2", scene: "hash", sceneName: "shot.blend",
			frames: []int{1, 2, 3}, width: 1920, height: 1080, camera: "Camera", perUnit: 1,
		}
	}
	frames := func(s string) []int {
		f, err := ParseFrames(s)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	parent := store.Job{ID: 10, AccountID: 7, Status: store.JobQueued, Priority: 3, Project: "p1"}
	twelveHours := 12 * time.Hour // the default per-frame limit (settings' taskOverTime)
	tests := []struct {
		name     string
		edit     func(*submission)
		scene    *sceneAnalysis
		parent   func(*store.Job)
		want     []plannedSummary
		wantErr  string // a part of the error; "" for none
		wantUnit string // the first unit's spec, when set
		check    func(*testing.T, taskPlan)
	}{
		{
			name: "frame range with a step",
			edit: func(s *submission) { s.frames = frames("1-9[4]") },
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-9[4]",
				units: []string{"1", "5", "9"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":1,"format":"PNG","resolution":[1920,1080],"camera":"Camera"}`,
		},
		{
			name: "frames, resolution, camera and format from the scene analysis",
			edit: func(s *submission) { s.frames, s.width, s.height, s.camera = nil, 0, 0, "" },
			scene: &sceneAnalysis{FrameStart: 1, FrameEnd: 10, FrameStep: 3, Width: 640, Height: 480,
				Camera: "Cam.001", Cameras: []string{"Camera", "Cam.001"}, Format: "OPEN_EXR"},
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-10[3]",
				units: []string{"1", "4", "7", "10"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":1,"format":"OPEN_EXR","resolution":[640,480],"camera":"Cam.001"}`,
			check: func(t *testing.T, p taskPlan) {
				if got := stateOf(p.sub.shell).AllCameras; strings.Join(got, ",") != "Camera,Cam.001" {
					t.Errorf("all cameras = %v", got)
				}
				if p.sub.camera != "Cam.001" || p.sub.width != 640 || p.sub.height != 480 {
					t.Errorf("sub = %q %dx%d", p.sub.camera, p.sub.width, p.sub.height)
				}
			},
		},
		{
			name:  "the client's camera and frames win over the scene's",
			edit:  func(s *submission) { s.camera = "Camera" },
			scene: &sceneAnalysis{FrameStart: 1, FrameEnd: 100, Camera: "Cam.001", Cameras: []string{"Camera", "Cam.001"}, Width: 10, Height: 10},
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-3[1]",
				units: []string{"1", "2", "3"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":1,"format":"PNG","resolution":[1920,1080],"camera":"Camera"}`,
		},
		{
			name: "tiles split every frame into blocks",
			edit: func(s *submission) { s.frames, s.tiles = []int{5}, 4 },
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "5",
				units: []string{"5-1", "5-2", "5-3", "5-4"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":5,"format":"PNG","resolution":[1920,1080],"camera":"Camera","border":{"min_x":0,"max_x":0.5,"min_y":0.5,"max_y":1}}`,
		},
		{
			name: "frames per task group the frames",
			edit: func(s *submission) { s.frames, s.perUnit = frames("1-5"), 2 },
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-5[1]",
				units: []string{"1,2", "3,4", "5"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":1,"frames":[1,2],"format":"PNG","resolution":[1920,1080],"camera":"Camera"}`,
		},
		{
			name: "priority frames first, the rest wait for them",
			edit: func(s *submission) { s.frames, s.preFrames = frames("1-5"), "101" },
			want: []plannedSummary{
				{role: "priority", taskType: "RenderPriority", frameType: framePriority, frames: "1-5[4]", units: []string{"1", "5"}, unitTimeout: twelveHours},
				{role: "render", taskType: "Render", frameType: frameMain, frames: "2-4[1]", units: []string{"2", "3", "4"}, wait: true, unitTimeout: twelveHours},
			},
		},
		{
			name: "test frames stop the rest until the task is started",
			edit: func(s *submission) { s.frames, s.preFrames, s.testStop = frames("1-5"), "010:1", true },
			want: []plannedSummary{
				{role: "priority", taskType: "RenderPriority", frameType: framePriority, frames: "1-3[2]", units: []string{"1", "3"}, unitTimeout: twelveHours},
				{role: "render", taskType: "Render", frameType: frameMain, frames: "2-4[2],5", units: []string{"2", "4", "5"}, paused: engine.PauseTest, unitTimeout: twelveHours},
			},
		},
		{
			name: "only priority frames",
			edit: func(s *submission) { s.frames, s.preFrames = []int{7}, "100" },
			want: []plannedSummary{{role: "priority", taskType: "RenderPriority", frameType: framePriority, frames: "7", units: []string{"7"}, unitTimeout: twelveHours}},
		},
		{
			name: "the submission's per-frame limit",
			edit: func(s *submission) { s.frameTime, s.taskTime = 90*time.Minute, 5*time.Hour },
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-3[1]",
				units: []string{"1", "2", "3"}, unitTimeout: 90 * time.Minute}},
			check: func(t *testing.T, p taskPlan) {
				if got := time.Duration(p.children[0].spec.JobTimeout); got != 5*time.Hour {
					t.Errorf("job timeout = %v", got)
				}
				if p.frameTime != 90*time.Minute {
					t.Errorf("frame time = %v", p.frameTime)
				}
			},
		},
		{
			name: "the account's default per-frame limit",
			edit: func(s *submission) { s.account.Settings = json.RawMessage(`{"render":{"taskOverTime":2}}`) },
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-3[1]",
				units: []string{"1", "2", "3"}, unitTimeout: 2 * time.Hour}},
		},
		{
			name: "a limit set on the task during the analysis wins",
			edit: func(s *submission) { s.frameTime = time.Hour },
			parent: func(j *store.Job) {
				sec := int64(600)
				j.Spec = mustJSON(taskState{OverTimeSec: &sec})
			},
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-3[1]",
				units: []string{"1", "2", "3"}, unitTimeout: 10 * time.Minute}},
		},
		{
			name:   "a task stopped during the analysis gets its children stopped",
			edit:   func(s *submission) { s.frames, s.preFrames = frames("1-3"), "100" },
			parent: func(j *store.Job) { j.Status = store.JobPaused },
			want: []plannedSummary{
				{role: "priority", taskType: "RenderPriority", frameType: framePriority, frames: "1", units: []string{"1"}, paused: engine.PauseUser, unitTimeout: twelveHours},
				{role: "render", taskType: "Render", frameType: frameMain, frames: "2-3[1]", units: []string{"2", "3"}, wait: true, paused: engine.PauseUser, unitTimeout: twelveHours},
			},
			check: func(t *testing.T, p taskPlan) {
				if !p.stopped {
					t.Error("plan not stopped")
				}
			},
		},
		{
			name: "priority and project come from the task as it is now",
			want: []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1-3[1]",
				units: []string{"1", "2", "3"}, unitTimeout: twelveHours}},
			check: func(t *testing.T, p taskPlan) {
				s := p.children[0].spec
				if s.Priority != 3 || s.Project != "p1" || p.sub.shell.Priority != 3 || p.sub.shell.Project != "p1" {
					t.Errorf("priority %d project %q (sub %d %q)", s.Priority, s.Project, p.sub.shell.Priority, p.sub.shell.Project)
				}
				if s.AccountID != 7 || s.ParentID != 10 || s.Kind != KindRender || s.Name != "shot.blend" ||
					s.MaxAttempts != 3 || s.BlocklistAfter != 3 {
					t.Errorf("spec = %+v", s)
				}
			},
		},
		{
			name:     "EXR is asked for by either name",
			edit:     func(s *submission) { s.frames, s.format = []int{1}, "EXR" },
			want:     []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1", units: []string{"1"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":1,"format":"OPEN_EXR","resolution":[1920,1080],"camera":"Camera"}`,
		},
		{
			name:     "other formats render as PNG",
			edit:     func(s *submission) { s.frames, s.format = []int{1}, "JPEG" },
			want:     []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1", units: []string{"1"}, unitTimeout: twelveHours}},
			wantUnit: `{"scene":"hash","frame":1,"format":"PNG","resolution":[1920,1080],"camera":"Camera"}`,
		},
		{
			name: "other software runs through its command template",
			edit: func(s *submission) {
				s.frames, s.software = []int{1}, Software{CgID: 2000, CgName: "Maya", Capability: "maya"}
			},
			want:     []plannedSummary{{role: "render", taskType: "Render", frameType: frameMain, frames: "1", units: []string{"1"}, unitTimeout: twelveHours}},
			wantUnit: `{"border":null,"camera":"Camera","frame":1,"resolution":[1920,1080],"scene":"hash","software":"Maya","version":"4.2"}`,
		},
		{
			name:    "no frames at all",
			edit:    func(s *submission) { s.frames = nil },
			wantErr: "10030: no frame range",
		},
		{
			name:    "tiles without the resolution",
			edit:    func(s *submission) { s.tiles, s.width = 4, 0 },
			wantErr: "10030: tiles need the resolution",
		},
		{
			name:    "priority frames outside the task's frames",
			edit:    func(s *submission) { s.preFrames = "000:9" },
			wantErr: "frame 9 is not in the task's frames",
		},
		{
			name:    "unreadable account settings",
			edit:    func(s *submission) { s.account.Settings = json.RawMessage(`{"render":[]}`) },
			wantErr: "account 7 render settings",
		},
		{
			name:    "a task aborted during the analysis gets no children",
			parent:  func(j *store.Job) { j.Status = store.JobCancelled },
			wantErr: errTaskEnded.Error(),
		},
		{
			name:    "a task deleted during the analysis gets no children",
			parent:  func(j *store.Job) { j.Deleted = true },
			wantErr: errTaskEnded.Error(),
		},
		{
			name:    "an invalid submission fails before a control is looked at",
			edit:    func(s *submission) { s.frames = nil },
			parent:  func(j *store.Job) { j.Status = store.JobCancelled },
			wantErr: "10030: no frame range",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := base()
			if tc.edit != nil {
				tc.edit(&sub)
			}
			p := parent
			if tc.parent != nil {
				tc.parent(&p)
			}
			plan, err := planTask(sub, tc.scene, p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				if tc.wantErr == errTaskEnded.Error() && !errors.Is(err, errTaskEnded) {
					t.Fatalf("err = %v, want errTaskEnded", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := summarise(plan)
			if len(got) != len(tc.want) {
				t.Fatalf("children = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tc.want[i]) {
					t.Errorf("child %d = %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
			if tc.wantUnit != "" {
				if u := string(plan.children[0].spec.Units[0].Spec); u != tc.wantUnit {
					t.Errorf("first unit spec = %s\nwant %s", u, tc.wantUnit)
				}
			}
			if tc.check != nil {
				tc.check(t, plan)
			}
		})
	}
}
