package render

import (
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// TestVendorSDKShapes: what the vendor's SDK (rayvision_api) sends is read as it means it:
// querySupportedPlugin's osName as a name, operateUserLabel's type 1 add / 2 delete, createTask's
// labels and task.json's project_name / project_id.
func TestVendorSDKShapes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		for _, tc := range []struct {
			osName any
			want   int
		}{
			{"linux", CodeSuccess}, {"windows", CodeSuccess}, {"Linux", CodeSuccess}, {0, CodeSuccess},
			{1, CodeSuccess}, {"1", CodeSuccess}, {"macos", CodeInvalid}, {2, CodeInvalid}, {true, CodeInvalid},
		} {
			if c := e.code(e.cl, "/api/render/common/querySupportedPlugin", map[string]any{"cgId": 2007, "osName": tc.osName}); c != tc.want {
				t.Errorf("querySupportedPlugin osName %v: code %d, want %d", tc.osName, c, tc.want)
			}
		}

		labels := func() []string {
			var d struct {
				List []struct {
					Name string `json:"projectName"`
					ID   int64  `json:"projectId"`
				} `json:"projectNameList"`
			}
			e.call(e.cl, "/api/render/common/getLabelList", nil, &d)
			var names []string
			for _, l := range d.List {
				names = append(names, l.Name+"#"+strconv.FormatInt(l.ID, 10))
			}
			return names
		}
		has := func(name string) (int64, bool) {
			for _, l := range labels() {
				if n, id, _ := cutLast(l, "#"); n == name {
					v, _ := strconv.ParseInt(id, 10, 64)
					return v, true
				}
			}
			return 0, false
		}
		for _, tc := range []struct {
			body   map[string]any
			code   int
			label  string
			exists bool
		}{
			{map[string]any{"newName": "sdk-a", "type": 1, "status": 1}, CodeSuccess, "sdk-a", true},
			{map[string]any{"newName": "sdk-a", "type": 1}, CodeSuccess, "sdk-a", true}, // adding twice: no-op
			{map[string]any{"delName": "sdk-a", "type": 2}, CodeSuccess, "sdk-a", false},
			{map[string]any{"newName": "sdk-b"}, CodeSuccess, "sdk-b", true},
			{map[string]any{"delName": "sdk-b"}, CodeSuccess, "sdk-b", false},
			{map[string]any{"labelName": "old-c", "operateType": 0}, CodeSuccess, "old-c", true},
			{map[string]any{"labelName": "old-c", "operateType": 1}, CodeSuccess, "old-c", false},
			{map[string]any{"newName": "sdk-d", "type": 3}, CodeInvalid, "sdk-d", false},
			{map[string]any{"type": 2}, CodeMissing, "", false},
		} {
			if c := e.code(e.cl, "/api/rendering/task/common/operateUserLabel", tc.body); c != tc.code {
				t.Fatalf("operateUserLabel %v: code %d, want %d", tc.body, c, tc.code)
			}
			if _, ok := has(tc.label); tc.label != "" && ok != tc.exists {
				t.Fatalf("after operateUserLabel %v: label %q exists %v, want %v (%v)", tc.body, tc.label, ok, tc.exists, labels())
			}
		}

		// createTask labels: each becomes a label, the first is the project.
		var created struct {
			IDs []int64 `json:"taskIdList"`
		}
		e.call(e.cl, "/api/render/task/createTask", map[string]any{"labels": []string{"proj-a", "tag-b"}}, &created)
		for _, l := range []string{"proj-a", "tag-b"} {
			if _, ok := has(l); !ok {
				t.Fatalf("createTask labels: %q is not a label (%v)", l, labels())
			}
		}
		if ti := e.info(e.cl, created.IDs[0]); ti.ProjectName != "proj-a" {
			t.Fatalf("createTask labels: project %q", ti.ProjectName)
		}
		if c := e.code(e.cl, "/api/render/task/createTask", map[string]any{"labels": []string{" "}}); c != CodeInvalid {
			t.Fatalf("createTask with an empty label: code %d", c)
		}

		// task.json project_name / project_id, as submit_by_data writes them.
		projA, _ := has("proj-a")
		_, bob := e.newAccount("bob", 0)
		var bobLabels struct {
			List []struct {
				ID int64 `json:"projectId"`
			} `json:"projectNameList"`
		}
		e.call(bob, "/api/render/common/addLabel", map[string]any{"newName": "bob-secret"}, nil)
		e.call(bob, "/api/render/common/getLabelList", nil, &bobLabels)
		scene := []byte("BLENDER-v304 fake scene")
		common := map[string]string{"frames": "1-2"}
		for _, tc := range []struct {
			name    string
			fields  map[string]string
			code    int
			project string
		}{
			{"name", map[string]string{"project_name": "Film X", "project_id": ""}, CodeSuccess, "Film X"},
			{"name wins", map[string]string{"project_name": "Film Y", "project_id": strconv.FormatInt(projA, 10)}, CodeSuccess, "Film Y"},
			{"id alone", map[string]string{"project_name": "", "project_id": strconv.FormatInt(projA, 10)}, CodeSuccess, "proj-a"},
			{"id zero", map[string]string{"project_id": "0"}, CodeSuccess, ""},
			{"another account's label", map[string]string{"project_id": strconv.FormatInt(bobLabels.List[0].ID, 10)}, CodeNotFound, ""},
			{"id not a number", map[string]string{"project_id": "x"}, CodeInvalid, ""},
		} {
			id := e.prepareTask(e.cl, scene, tc.fields, common)
			if c := e.code(e.cl, "/api/render/task/submitTask", map[string]any{"taskId": id}); c != tc.code {
				t.Fatalf("%s: submitTask code %d, want %d", tc.name, c, tc.code)
			}
			if tc.code != CodeSuccess {
				continue
			}
			ti := e.waitStatus(e.cl, id, 5*time.Second, StatusWaiting)
			if ti.ProjectName != tc.project {
				t.Fatalf("%s: project %q, want %q", tc.name, ti.ProjectName, tc.project)
			}
			if tc.project == "" {
				continue
			}
			if _, ok := has(tc.project); !ok {
				t.Fatalf("%s: project %q is not a label", tc.name, tc.project)
			}
			var list struct {
				Items []taskInfo `json:"items"`
			}
			e.call(e.cl, "/api/render/task/getTaskList", map[string]any{"searchKeyword": tc.project, "pageSize": 100}, &list)
			if !slices.ContainsFunc(list.Items, func(it taskInfo) bool { return it.ID == id }) {
				t.Fatalf("%s: a search for %q does not find task %d", tc.name, tc.project, id)
			}
			for _, k := range ti.RespRenderingTaskList {
				if k.ProjectName != tc.project {
					t.Fatalf("%s: child project %q", tc.name, k.ProjectName)
				}
			}
		}
	})
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// TestPageNumOverflow: a page number whose offset overflows is a page past the end (empty), never
// the first page.
func TestPageNumOverflow(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, map[string]string{"frames": "1-3"})
		e.waitStatus(e.cl, id, 5*time.Second, StatusWaiting)
		huge := []any{int64(1) << 62, int64(math.MaxInt64), "4611686018427387904", int64(1)<<53 + 1}
		for _, num := range huge {
			for _, tc := range []struct {
				path string
				body map[string]any
			}{
				{"/api/render/task/getTaskList", map[string]any{"pageNum": num, "pageSize": 100}},
				{"/api/render/task/getTaskList", map[string]any{"pageNum": num, "pageSize": 7, "statusList": []int{0}}},
				{"/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "pageNum": num, "pageSize": 100}},
			} {
				var pg struct {
					Total int   `json:"total"`
					Items []any `json:"items"`
				}
				e.call(e.cl, tc.path, tc.body, &pg)
				if len(pg.Items) != 0 || pg.Total == 0 {
					t.Errorf("%s pageNum %v: %d items of %d, want an empty page", tc.path, num, len(pg.Items), pg.Total)
				}
			}
		}
	})
}

// TestFrameFeesAddUp: the per-frame coupon, balance and arrears figures of queryTaskFrames add up
// exactly to the task's couponConsume, userAccountConsume and taskArrears.
func TestFrameFeesAddUp(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		// One node-hour costs 1.000: a 10-second frame costs 0.003 (rounded up from 0.0028).
		if err := UpdateSettings(e.ctx, e.st, e.acct.ID, func(s *Settings) { s.CPUPrice = 1 }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{CouponMilli: 5, BalanceMilli: 1_000}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, map[string]string{"frames": "1-3"})
		e.waitStatus(e.cl, id, 5*time.Second, StatusWaiting)
		w := e.worker("blender")
		if n := w.drain(10); n != 3 {
			t.Fatalf("rendered %d frames", n)
		}
		ti := e.waitStatus(e.cl, id, 5*time.Second, StatusFinished)
		milli := func(v float64) int64 { return int64(math.Round(v * 1000)) }
		if milli(ti.CouponConsume) != 5 || milli(ti.UserAccountConsume) != 4 {
			t.Fatalf("task totals: coupon %v balance %v", ti.CouponConsume, ti.UserAccountConsume)
		}
		var pg struct {
			Items []struct {
				Fee     float64 `json:"feeAmount"`
				Coupon  float64 `json:"couponFee"`
				Arrears float64 `json:"arrearsFee"`
			} `json:"items"`
		}
		e.call(e.cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "pageSize": 100}, &pg)
		var fee, coupon, arrears int64
		for _, it := range pg.Items {
			fee, coupon, arrears = fee+milli(it.Fee), coupon+milli(it.Coupon), arrears+milli(it.Arrears)
		}
		if coupon != 5 || fee != 4 || arrears != 0 || len(pg.Items) != 3 {
			t.Fatalf("frames add up to coupon %d balance %d arrears %d over %d frames, want 5, 4, 0", coupon, fee, arrears, len(pg.Items))
		}
	})
}
