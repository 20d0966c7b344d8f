package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func TestSignatureChecks(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		path := "/api/render/user/queryUserProfile"
		if c := e.code(e.cl, path, nil); c != CodeSuccess {
			t.Fatalf("signed call: %d", c)
		}
		tests := []struct {
			name string
			mod  func(c *Client)
			want int
		}{
			{"clock 301 s behind", func(c *Client) { c.Now = func() time.Time { return time.Now().Add(-301 * time.Second) } }, CodeSignatureExpired},
			{"clock 301 s ahead", func(c *Client) { c.Now = func() time.Time { return time.Now().Add(301 * time.Second) } }, CodeSignatureExpired},
			{"clock 200 s behind", func(c *Client) { c.Now = func() time.Time { return time.Now().Add(-200 * time.Second) } }, CodeSuccess},
			{"wrong key", func(c *Client) { c.AccessKey = "nope" }, CodeSignatureInvalid},
			{"unknown accessId", func(c *Client) { c.AccessID = "AKNOBODY" }, CodeSignatureInvalid},
		}
		for _, tt := range tests {
			c := e.cl.Clone()
			tt.mod(c)
			if got := e.code(c, path, nil); got != tt.want {
				t.Errorf("%s: code %d, want %d", tt.name, got, tt.want)
			}
		}
		// Replay: the same nonce inside the window is refused; another account's nonce space is its own.
		fixed := e.cl.Clone()
		fixed.Nonce = func() string { return "42" }
		if got := e.code(fixed, path, nil); got != CodeSuccess {
			t.Fatalf("first use of nonce: %d", got)
		}
		if got := e.code(fixed, path, nil); got != CodeSignatureInvalid {
			t.Fatalf("replayed nonce: %d, want 611", got)
		}
		_, bob := e.newAccount("bob", 0)
		bob.Nonce = fixed.Nonce
		if got := e.code(bob, path, nil); got != CodeSuccess {
			t.Fatalf("same nonce, other accessId: %d", got)
		}
		// Header names in any case, and a tampered body.
		req, _ := e.cl.Request(e.ctx, path, []byte(`{}`))
		lower := http.Header{}
		for k, v := range req.Header {
			lower[strings.ToLower(k)] = v
		}
		req.Header = lower
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env Envelope
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if env.Code != CodeSuccess || env.Version != "1.0.0" || env.RequestID == "" || env.ServerTime == 0 {
			t.Fatalf("lower-case headers: %+v", env)
		}
		req, _ = e.cl.Request(e.ctx, "/api/render/common/queryPlatforms", []byte(`{"zone":1}`))
		req.Body = http.NoBody
		req.ContentLength = 0
		req2, _ := http.NewRequest(http.MethodPost, req.URL.String(), strings.NewReader(`{"zone":2}`))
		req2.Header = req.Header
		resp, err = http.DefaultClient.Do(req2)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if resp.StatusCode != 200 || env.Code != CodeSignatureInvalid {
			t.Fatalf("tampered body: HTTP %d code %d", resp.StatusCode, env.Code)
		}
		// Missing signature header.
		req, _ = e.cl.Request(e.ctx, path, []byte(`{}`))
		delete(req.Header, "signature")
		resp, _ = http.DefaultClient.Do(req)
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if env.Code != CodeMissing {
			t.Fatalf("missing signature: %d", env.Code)
		}
	})
}

func TestBadInputs(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		_, bob := e.newAccount("bob", 0)
		var created struct {
			IDs []int64 `json:"taskIdList"`
		}
		e.call(bob, "/api/render/task/createTask", map[string]any{"count": 1}, &created)
		bobTask := created.IDs[0]
		e.call(e.cl, "/api/render/task/createTask", nil, &created)
		mine := created.IDs[0]
		tests := []struct {
			path string
			body string
			want int
		}{
			{"/api/render/common/queryPlatforms", `{"zone":`, CodeInvalid},
			{"/api/render/common/queryPlatforms", `[1,2]`, CodeInvalid},
			{"/api/render/common/queryPlatforms", `{}`, CodeMissing},
			{"/api/render/common/queryPlatforms", `{"zone":"x"}`, CodeInvalid},
			{"/api/render/common/queryPlatforms", `{"zone":3}`, CodeInvalid},
			{"/api/render/common/queryErrorDetail", `{}`, CodeMissing},
			{"/api/render/common/queryErrorDetail", `{"code":{}}`, CodeInvalid},
			{"/api/render/common/queryErrorDetail", `{"code":15000,"language":5}`, CodeInvalid},
			{"/api/render/common/addLabel", `{}`, CodeMissing},
			{"/api/render/common/addLabel", `{"newName":[1]}`, CodeInvalid},
			{"/api/render/common/deleteLabel", `{"delName":"never"}`, CodeNotFound},
			{"/api/render/common/querySupportedPlugin", `{}`, CodeMissing},
			{"/api/render/common/querySupportedPlugin", `{"cgId":1}`, CodeNotFound},
			{"/api/render/common/addRenderEnv", `{"cgId":2000}`, CodeMissing},
			{"/api/render/common/addRenderEnv", `{"cgId":2000,"cgVersion":"1999","editName":"x"}`, CodeInvalid},
			{"/api/render/common/addRenderEnv", `{"cgId":2000,"cgVersion":"2020","editName":"x","pluginIds":[999999]}`, CodeInvalid},
			{"/api/render/common/addRenderEnv", `{"cgId":2001,"cgVersion":"2020","editName":"x","renderSystem":0}`, CodeInvalid},
			{"/api/render/common/updateRenderEnv", `{"cgId":2000,"cgVersion":"2020","editName":"none"}`, CodeNotFound},
			{"/api/render/common/deleteRenderEnv", `{}`, CodeMissing},
			{"/api/render/common/setDefaultRenderEnv", `{"editName":"none"}`, CodeNotFound},
			{"/api/render/common/getRenderEnv", `{"cgId":"abc"}`, CodeInvalid},
			{"/api/render/user/updateUserSetting", `{}`, CodeMissing},
			{"/api/render/user/updateUserSetting", `{"taskOverTime":"x"}`, CodeInvalid},
			{"/api/render/user/updateUserSetting", `{"cpuPrice":0}`, CodeNoPermission},
			{"/api/render/user/updateUserSetting", `{"subDeleteTask":7}`, CodeInvalid},
			{"/api/render/task/createTask", `{"count":0}`, CodeInvalid},
			{"/api/render/task/createTask", `{"count":"many"}`, CodeInvalid},
			{"/api/render/task/submitTask", `{}`, CodeMissing},
			{"/api/render/task/submitTask", fmt.Sprintf(`{"taskId":%d}`, bobTask), CodeNotFound},
			{"/api/render/task/submitTask", fmt.Sprintf(`{"taskId":%d}`, mine), CodeMissing}, // no task.json
			{"/api/render/task/taskJsonFile", fmt.Sprintf(`{"taskId":%d,"fileName":"evil.sh","content":"{}"}`, mine), CodeInvalid},
			{"/api/render/task/taskJsonFile", fmt.Sprintf(`{"taskId":%d,"fileName":"task.json","content":"{not json"}`, mine), CodeInvalid},
			{"/api/render/task/taskJsonFile", fmt.Sprintf(`{"taskId":%d,"fileName":"task.json"}`, mine), CodeMissing},
			{"/api/render/task/taskJsonFile", fmt.Sprintf(`{"taskId":%d,"fileName":"task.json","content":"{}"}`, bobTask), CodeNotFound},
			{"/api/render/task/getTaskList", `{"pageNum":0,"pageSize":10}`, CodeInvalid},
			{"/api/render/task/getTaskList", `{"pageNum":1,"pageSize":10,"statusList":"x"}`, CodeInvalid},
			{"/api/render/task/stopTask", `{}`, CodeMissing},
			{"/api/render/task/stopTask", `{"taskIds":["a"]}`, CodeInvalid},
			{"/api/render/task/stopTask", fmt.Sprintf(`{"taskIds":[%d]}`, bobTask), CodeNotFound},
			{"/api/render/task/startTask", `{"taskIds":[999999999]}`, CodeNotFound},
			{"/api/render/task/abortTask", fmt.Sprintf(`{"taskParam":[%d]}`, bobTask), CodeNotFound},
			{"/api/render/task/deleteTask", fmt.Sprintf(`{"taskIds":[%d]}`, bobTask), CodeNotFound},
			{"/api/render/task/queryTaskFrames", `{"pageNum":1,"pageSize":10}`, CodeMissing},
			{"/api/render/task/queryTaskFrames", fmt.Sprintf(`{"taskId":%d,"pageNum":1,"pageSize":10}`, bobTask), CodeNotFound},
			{"/api/render/task/restartFailedFrames", `{"taskIds":{}}`, CodeInvalid},
			{"/api/render/task/restartFrame", fmt.Sprintf(`{"taskIds":%d,"selectAll":0,"ids":[]}`, mine), CodeMissing},
			{"/api/render/task/restartFrame", fmt.Sprintf(`{"taskIds":%d,"selectAll":3}`, mine), CodeInvalid},
			{"/api/render/task/restartFrame", fmt.Sprintf(`{"taskIds":%d,"selectAll":1}`, bobTask), CodeNotFound},
			{"/api/render/task/queryTaskInfo", `{}`, CodeMissing},
			{"/api/render/task/queryTaskInfo", fmt.Sprintf(`{"taskIds":[%d]}`, bobTask), CodeNotFound},
			{"/api/render/task/loadTaskProcessImg", `{}`, CodeMissing},
			{"/api/render/task/loadTaskProcessImg", fmt.Sprintf(`{"taskId":%d}`, bobTask), CodeNotFound},
			{"/api/render/task/setOverTimeStop", fmt.Sprintf(`{"taskIds":[%d]}`, mine), CodeMissing},
			{"/api/render/task/setOverTimeStop", fmt.Sprintf(`{"taskIds":[%d],"overTime":-1}`, mine), CodeInvalid},
			{"/api/render/task/loadingFrameThumbnail", `{"id":999999999,"frameStatus":4}`, CodeNotFound},
			{"/api/render/task/loadingFrameThumbnail", `{"frameStatus":4}`, CodeMissing},
			{"/api/render/task/getTransferServerMsg", `{"zone":"z"}`, CodeInvalid},
			{"/api/render/task/fullSpeed", `{}`, CodeMissing},
			{"/api/render/task/addTaskLabel", fmt.Sprintf(`{"label":"p","taskIds":[%d]}`, bobTask), CodeNotFound},
			{"/api/render/task/addTaskLabel", `{"taskIds":[1]}`, CodeMissing},
			{"/api/render/task/deleteTaskLabel", `{"labelIds":[999999]}`, CodeNotFound},
			{"/api/rendering/task/common/operateUserLabel", `{"labelName":"x","operateType":9}`, CodeInvalid},
			{"/api/rendering/task/renderingTask/updateTaskUserLevel", fmt.Sprintf(`{"taskId":%d,"taskUserLevel":101}`, mine), CodeInvalid},
			{"/api/rendering/task/renderingTask/updateTaskUserLevel", fmt.Sprintf(`{"taskId":%d,"taskUserLevel":1}`, bobTask), CodeNotFound},
		}
		for _, tt := range tests {
			env, err := e.cl.CallRaw(e.ctx, tt.path, []byte(tt.body), nil)
			if env == nil {
				t.Fatalf("%s %s: %v", tt.path, tt.body, err)
			}
			if env.Code != tt.want || env.Result || string(env.Data) != "null" {
				t.Errorf("%s %s: code %d (%s), want %d", tt.path, tt.body, env.Code, env.Message, tt.want)
			}
		}
		// The body size limit answers 600, not a dropped connection.
		big := `{"x":"` + strings.Repeat("a", maxBodyBytes) + `"}`
		if env, _ := e.cl.CallRaw(e.ctx, "/api/render/common/getLabelList", []byte(big), nil); env == nil || env.Code != CodeInvalid {
			t.Errorf("oversized body: %+v", env)
		}
	})
}

func TestAccountsSettingsCatalog(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		// A sub-account made before the main account's first call: the main account's list of them is
		// cached for cacheTTL (TestNewSubAccountShowsWithinCacheTTL).
		_, sub := e.newAccount("alice-sub", e.acct.ID)
		if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{BalanceMilli: 12_500, CouponMilli: 49_930}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := UpdateSettings(e.ctx, e.st, e.acct.ID, func(s *Settings) { s.CPUPrice, s.GPUPrice = 0.67, 20 }); err != nil {
			t.Fatal(err)
		}
		// The first three calls of a client each answer an object.
		for _, p := range []string{"/api/render/user/queryUserProfile", "/api/render/user/queryUserSetting", "/api/render/task/getTransferBid"} {
			var m map[string]any
			e.call(e.cl, p, nil, &m)
			if m == nil {
				t.Fatalf("%s answered no object", p)
			}
		}
		var prof map[string]any
		e.call(e.cl, "/api/render/user/queryUserProfile", nil, &prof)
		for k, want := range map[string]any{"userName": "alice", "rmbbalance": 12.5, "coupon": 49.93, "cpuPrice": 0.67, "gpuPrice": 20.0, "accountType": 1.0} {
			if prof[k] != want {
				t.Errorf("profile %s = %v, want %v", k, prof[k], want)
			}
		}
		e.call(e.cl, "/api/render/user/updateUserSetting", map[string]any{"taskOverTime": 13}, nil)
		var set map[string]any
		e.call(e.cl, "/api/render/user/queryUserSetting", nil, &set)
		if set["taskOverTime"] != 13.0 {
			t.Fatalf("taskOverTime %v", set["taskOverTime"])
		}
		e.call(e.cl, "/api/render/user/updateUserSetting", map[string]any{"taskOverTimeSec": 7200}, nil)
		e.call(e.cl, "/api/render/user/queryUserSetting", nil, &set)
		if set["taskOverTime"] != 2.0 {
			t.Fatalf("taskOverTimeSec alias: %v", set["taskOverTime"])
		}
		// Sub-accounts: may not change the main account's switches, may not delete without subDeleteTask.
		if c := e.code(sub, "/api/render/user/updateUserSetting", map[string]any{"subDeleteTask": 1}); c != CodeNoPermission {
			t.Fatalf("sub changes switches: %d", c)
		}
		var created struct {
			IDs []int64 `json:"taskIdList"`
		}
		e.call(sub, "/api/render/task/createTask", nil, &created)
		if c := e.code(sub, "/api/render/task/deleteTask", map[string]any{"taskIds": created.IDs}); c != CodeNoPermission {
			t.Fatalf("sub deletes without subDeleteTask: %d", c)
		}
		// The main account sees its sub-account's task.
		if ti := e.info(e.cl, created.IDs[0]); ti.ID != created.IDs[0] {
			t.Fatal("main account cannot see the sub-account's task")
		}
		e.call(e.cl, "/api/render/user/updateUserSetting", map[string]any{"subDeleteTask": 1, "shareMainCapital": 1}, nil)
		e.call(sub, "/api/render/task/deleteTask", map[string]any{"taskIds": created.IDs}, nil)
		var sp map[string]any
		e.call(sub, "/api/render/user/queryUserProfile", nil, &sp)
		if sp["accountType"] != 2.0 || sp["coupon"] != 49.93 || sp["shareMainCapital"] != 1.0 {
			t.Fatalf("sub profile with shared capital: %v", sp)
		}
		// Catalog and error codes.
		var sw struct {
			List []map[string]any `json:"renderInfoList"`
		}
		e.call(e.cl, "/api/render/common/querySupportedSoftware", nil, &sw)
		names := map[string]bool{}
		for _, s := range sw.List {
			names[s["cgName"].(string)] = true
		}
		for _, n := range []string{"Blender", "Maya", "3ds Max", "CINEMA 4D", "Houdini", "Arnold Standalone", "V-Ray Standalone", "Clarisse", "Unreal Engine", "KeyShot"} {
			if !names[n] {
				t.Errorf("catalog lacks %s", n)
			}
		}
		var pl struct {
			Plugins  []Plugin         `json:"cgPlugin"`
			Versions []map[string]any `json:"cgVersion"`
		}
		e.call(e.cl, "/api/render/common/querySupportedPlugin", map[string]any{"cgId": 2005, "osName": 1}, &pl)
		if len(pl.Plugins) == 0 || pl.Versions[0]["cgName"] != "CINEMA 4D" {
			t.Fatalf("plugins: %+v", pl)
		}
		var codes []map[string]any
		e.call(e.cl, "/api/render/common/queryErrorDetail", map[string]any{"code": "15000", "language": 1}, &codes)
		if len(codes) != 1 || codes[0]["type"] != 1.0 || !strings.Contains(codes[0]["desDescriptionCn"].(string), "3ds Max") {
			t.Fatalf("error detail: %v", codes)
		}
		e.call(e.cl, "/api/render/common/queryErrorDetail", map[string]any{"code": 15000}, &codes)
		if len(codes) != 1 || !strings.Contains(codes[0]["desDescriptionCn"].(string), "启动") {
			t.Fatalf("error detail (int code, Chinese): %v", codes)
		}
		// Render environments.
		env := map[string]any{"cgId": 2000, "cgName": "Maya", "cgVersion": "2020", "renderLayerType": 0, "editName": "testRenderEnv", "renderSystem": "0", "pluginIds": []int{1166}}
		e.call(e.cl, "/api/render/common/addRenderEnv", env, nil)
		if c := e.code(e.cl, "/api/render/common/addRenderEnv", env); c != CodeInvalid {
			t.Fatalf("duplicate env: %d", c)
		}
		env["pluginIds"] = []int{}
		e.call(e.cl, "/api/render/common/updateRenderEnv", env, nil)
		e.call(e.cl, "/api/render/common/setDefaultRenderEnv", map[string]any{"editName": "testRenderEnv"}, nil)
		var envs []map[string]any
		e.call(e.cl, "/api/render/common/getRenderEnv", map[string]any{"cgId": "2000"}, &envs)
		if len(envs) != 1 || envs[0]["isDefault"] != 1.0 {
			t.Fatalf("envs: %v", envs)
		}
		e.call(e.cl, "/api/render/common/getRenderEnv", map[string]any{"cgId": 2007}, &envs)
		if len(envs) != 0 {
			t.Fatalf("cgId filter: %v", envs)
		}
		e.call(e.cl, "/api/render/common/deleteRenderEnv", map[string]any{"editName": "testRenderEnv"}, nil)
		// Labels.
		e.call(e.cl, "/api/render/common/addLabel", map[string]any{"newName": "proj-a", "status": "1"}, nil)
		e.call(e.cl, "/api/rendering/task/common/operateUserLabel", map[string]any{"labelName": "proj-b", "operateType": 0}, nil)
		var labels struct {
			List []map[string]any `json:"projectNameList"`
		}
		e.call(e.cl, "/api/render/common/getLabelList", nil, &labels)
		if len(labels.List) != 2 {
			t.Fatalf("labels: %v", labels)
		}
		e.call(e.cl, "/api/render/common/deleteLabel", map[string]any{"delName": "proj-a"}, nil)
		e.call(e.cl, "/api/render/task/deleteTaskLabel", map[string]any{"labelIds": []any{labels.List[1]["projectId"]}}, nil)
		e.call(e.cl, "/api/render/common/getLabelList", nil, &labels)
		if len(labels.List) != 0 {
			t.Fatalf("labels after delete: %v", labels)
		}
		var plat []map[string]any
		e.call(e.cl, "/api/render/common/queryPlatforms", map[string]any{"zone": 1}, &plat)
		if len(plat) != 1 {
			t.Fatalf("platforms: %v", plat)
		}
	})
}

func decodePNG(t *testing.T, b []byte) (int, int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// taskInfoFields are the fields of the document's TaskInfo example (获取任务列表).
var taskInfoFields = []string{"sceneName", "id", "taskAlias", "taskStatus", "statusText", "preTaskStatus",
	"preStatusText", "totalFrames", "abortFrames", "executingFrames", "doneFrames", "failedFrames",
	"framesRange", "projectName", "renderConsume", "taskArrears", "submitDate", "startTime", "completedDate",
	"renderDuration", "userName", "producer", "taskLevel", "taskUserLevel", "taskLimit", "taskOverTime",
	"userId", "outputFileName", "munuTaskId", "layerParentId", "cgId", "taskKeyValueVo",
	"userAccountConsume", "couponConsume", "isOpen", "taskType", "renderCamera", "cloneParentId",
	"cloneOriginalId", "shareMainCapital", "taskRam", "respRenderingTaskList", "layerName", "taskTypeText",
	"isDelete"}

// TestLifecycle drives the render lifecycle through the API with in-process workers on both drivers.
func TestLifecycle(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		// One node-second costs 1.000: easy numbers.
		if err := UpdateSettings(e.ctx, e.st, e.acct.ID, func(s *Settings) { s.CPUPrice = 3600 }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{BalanceMilli: 100_000, CouponMilli: 5_000}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		common := map[string]string{"frames": "1-4[1]", "width": "64", "height": "48", "camera_name": "Camera", "Render_Format": "PNG"}
		id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, common)
		ti := e.waitStatus(e.cl, id, 10*time.Second, StatusWaiting)
		if len(ti.RespRenderingTaskList) != 1 || ti.RespRenderingTaskList[0].LayerParentID != id || ti.TotalFrames != 4 {
			t.Fatalf("after submit: %+v", ti)
		}
		if !strings.Contains(ti.StatusInfo, "no render node offers Blender") {
			t.Errorf("waiting reason: %q", ti.StatusInfo)
		}
		// Every field of the document's TaskInfo example, on the parent and on its child.
		var raw struct {
			Items []map[string]any `json:"items"`
		}
		e.call(e.cl, "/api/render/task/getTaskList", map[string]any{}, &raw)
		if len(raw.Items) != 1 {
			t.Fatalf("getTaskList: %d items", len(raw.Items))
		}
		kids, _ := raw.Items[0]["respRenderingTaskList"].([]any)
		if len(kids) != 1 {
			t.Fatalf("getTaskList: children %v", raw.Items[0]["respRenderingTaskList"])
		}
		for _, item := range []map[string]any{raw.Items[0], kids[0].(map[string]any)} {
			for _, k := range taskInfoFields {
				if _, ok := item[k]; !ok {
					t.Errorf("task %v has no field %q", item["id"], k)
				}
			}
		}
		w := e.worker("blender")
		units := w.lease(10)
		if len(units) != 4 {
			t.Fatalf("leased %d units", len(units))
		}
		for _, u := range units[:3] {
			if err := w.complete(u, 2); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.eng.Fail(e.ctx, engineFailure(units[3])); err != nil {
			t.Fatal(err)
		}
		ti = e.waitStatus(e.cl, id, 5*time.Second, StatusFinishedFail)
		if ti.DoneFrames != 3 || ti.FailedFrames != 1 || ti.RenderConsume != 6 || ti.CouponConsume != 5 || ti.UserAccountConsume != 1 {
			t.Fatalf("partial: %+v", ti)
		}
		e.call(e.cl, "/api/render/task/restartFailedFrames", map[string]any{"taskIds": []int64{id}}, nil)
		if n := w.drain(2); n != 1 {
			t.Fatalf("restarted %d frames", n)
		}
		ti = e.waitStatus(e.cl, id, 5*time.Second, StatusFinished)
		if ti.DoneFrames != 4 || ti.RespRenderingTaskList[0].TaskStatus != StatusFinished || ti.RenderConsume != 8 {
			t.Fatalf("finished: %+v", ti)
		}
		// Frames, progress images, thumbnails.
		var frames struct {
			Total int              `json:"total"`
			Items []map[string]any `json:"items"`
		}
		e.call(e.cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "pageNum": 1, "pageSize": 10}, &frames)
		if frames.Total != 4 {
			t.Fatalf("frames: %+v", frames)
		}
		for _, f := range frames.Items {
			if f["frameStatus"] != 4.0 || f["frameStatusText"] != "task_frame_status_4" {
				t.Fatalf("frame not done: %v", f)
			}
		}
		e.call(e.cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "pageNum": 1, "pageSize": 10, "searchKeyword": "3"}, &frames)
		if frames.Total != 1 {
			t.Fatalf("search frames: %d", frames.Total)
		}
		var proc struct {
			Width, Height, Block int
			Grab                 [][]map[string]string `json:"grabInfo"`
		}
		e.call(e.cl, "/api/render/task/loadTaskProcessImg", map[string]any{"taskId": id}, &proc)
		if proc.Width != 64 || len(proc.Grab) != 4 {
			t.Fatalf("process img: %+v", proc)
		}
		code, body := e.get(proc.Grab[0][0]["grabUrl"], nil)
		if code != 200 {
			t.Fatalf("grabUrl %d", code)
		}
		if w, h := decodePNG(t, body); w != 64 || h != 48 {
			t.Fatalf("grab image %dx%d", w, h)
		}
		var thumbs []string
		fid := int64(frames.Items[0]["id"].(float64))
		e.call(e.cl, "/api/render/task/loadingFrameThumbnail", map[string]any{"id": fid, "frameStatus": 4}, &thumbs)
		if len(thumbs) != 1 {
			t.Fatalf("thumbnail: %v", thumbs)
		}
		if code, body := e.get(thumbs[0], nil); code != 200 || len(body) == 0 {
			t.Fatalf("thumbnail fetch %d", code)
		}
		_, bob := e.newAccount("bob", 0)
		if c := e.code(bob, "/api/render/task/loadingFrameThumbnail", map[string]any{"id": fid, "frameStatus": 4}); c != CodeNotFound {
			t.Fatalf("other account's frame: %d", c)
		}
		// Outputs are downloadable through the transfer service.
		key := e.transferKey(e.cl)
		var list struct {
			Files []map[string]any `json:"files"`
		}
		_, lb := e.get(e.srv.URL+transferPrefix+"/list?prefix=/output/"+strconv.FormatInt(id, 10), map[string]string{"userKey": key})
		_ = json.Unmarshal(lb, &list)
		if len(list.Files) != 4 {
			t.Fatalf("outputs: %s", lb)
		}
		if code, _ := e.get(e.srv.URL+transferPrefix+"/files?path="+list.Files[0]["path"].(string), map[string]string{"userKey": key}); code != 200 {
			t.Fatalf("download output: %d", code)
		}
		if code, _ := e.get(e.srv.URL+transferPrefix+"/files?path="+list.Files[0]["path"].(string), map[string]string{"userKey": e.transferKey(bob)}); code != 404 {
			t.Fatalf("other account downloads: %d", code)
		}
		// Stats, list and labels.
		var stats map[string]float64
		e.call(e.cl, "/api/render/task/queryAllFrameStats", nil, &stats)
		if stats["doneFramesTotal"] != 4 || stats["totalFrames"] != 4 {
			t.Fatalf("stats: %v", stats)
		}
		e.call(e.cl, "/api/render/task/addTaskLabel", map[string]any{"label": "proj-x", "taskIds": []int64{id}}, nil)
		var pg struct {
			Total int        `json:"total"`
			Items []taskInfo `json:"items"`
		}
		e.call(e.cl, "/api/render/task/getTaskList", map[string]any{"pageNum": 1, "pageSize": 10, "statusList": []int{25}, "projectName": "proj-x"}, &pg)
		if pg.Total != 1 || pg.Items[0].ID != id {
			t.Fatalf("task list: %+v", pg)
		}
		e.call(e.cl, "/api/render/task/getTaskList", map[string]any{"pageNum": 1, "pageSize": 10, "statusList": []int{5}}, &pg)
		if pg.Total != 0 {
			t.Fatalf("status filter: %+v", pg)
		}

		// Stop and start.
		id2 := e.newTask(e.cl, []byte("scene two"), nil, common)
		e.waitStatus(e.cl, id2, 5*time.Second, StatusWaiting)
		e.call(e.cl, "/api/render/task/stopTask", map[string]any{"taskIds": []int64{id2}}, nil)
		e.waitStatus(e.cl, id2, time.Second, StatusStop)
		if units := w.lease(10); len(units) != 0 {
			t.Fatalf("stopped task handed out %d units", len(units))
		}
		e.call(e.cl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id2}}, nil)
		e.waitStatus(e.cl, id2, time.Second, StatusWaiting)
		e.call(e.cl, "/api/render/task/fullSpeed", map[string]any{"taskIds": []int64{id2}}, nil)
		e.call(e.cl, "/api/rendering/task/renderingTask/updateTaskUserLevel", map[string]any{"taskId": id2, "taskUserLevel": 60}, nil)
		// Overtime stop: a frame running past the limit ends with status 11.
		e.call(e.cl, "/api/render/task/setOverTimeStop", map[string]any{"taskIds": []int64{id2}, "overTime": 1}, nil)
		running := w.lease(1)
		e.clk.Advance(1100 * time.Millisecond)
		if err := e.eng.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.call(e.cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id2, "pageNum": 1, "pageSize": 10}, &frames)
		timedOut := 0
		for _, f := range frames.Items {
			if int64(f["id"].(float64)) == running[0].ID && f["frameStatus"] == 11.0 {
				timedOut++
			}
		}
		if timedOut != 1 {
			t.Fatalf("frame past its limit: %+v", frames.Items)
		}
		// Abort, then delete.
		e.call(e.cl, "/api/render/task/abortTask", map[string]any{"taskIds": []int64{id2}}, nil)
		ti = e.waitStatus(e.cl, id2, time.Second, StatusAbandon)
		if ti.AbortFrames != 3 {
			t.Fatalf("aborted frames: %+v", ti)
		}
		e.call(e.cl, "/api/render/task/deleteTask", map[string]any{"taskIds": []int64{id2}}, nil)
		if ti = e.info(e.cl, id2); ti.IsDelete != 0 {
			t.Fatalf("isDelete after delete: %d", ti.IsDelete)
		}
		e.call(e.cl, "/api/render/task/getTaskList", map[string]any{"pageNum": 1, "pageSize": 10}, &pg)
		for _, it := range pg.Items {
			if it.ID == id2 {
				t.Fatal("deleted task still listed")
			}
		}

		// Arrears: the money runs out mid-task; the task stops with 20 and starts again after a top-up.
		a, _ := e.st.GetAccount(e.ctx, e.acct.ID)
		if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{BalanceMilli: 1_000 - a.BalanceMilli, CouponMilli: -a.CouponMilli}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		id3 := e.newTask(e.cl, []byte("scene three"), nil, common)
		e.waitStatus(e.cl, id3, 5*time.Second, StatusWaiting)
		u := w.lease(1)
		if err := w.complete(u[0], 3); err != nil {
			t.Fatal(err)
		}
		ti = e.waitStatus(e.cl, id3, time.Second, StatusArrears)
		if ti.TaskArrears != 2 || ti.RenderConsume != 3 {
			t.Fatalf("arrears: %+v", ti)
		}
		if c := e.code(e.cl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id3}}); c != CodeNoPermission {
			t.Fatalf("start without funds: %d", c)
		}
		if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{BalanceMilli: 50_000}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		e.call(e.cl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id3}}, nil)
		if ti = e.info(e.cl, id3); ti.TaskArrears != 0 || ti.UserAccountConsume != 3 {
			t.Fatalf("started after a top-up, the debt settled: %+v", ti)
		}
		w.drain(1)
		e.waitStatus(e.cl, id3, 5*time.Second, StatusFinished)

		// Priority frames with a test stop: FINISHED_TEST until started.
		id4 := e.newTask(e.cl, []byte("scene four"), map[string]string{"pre_frames": "100", "stop_after_test": "1"}, common)
		ti = e.waitStatus(e.cl, id4, 5*time.Second, StatusWaiting, StatusRendering)
		if len(ti.RespRenderingTaskList) != 2 || ti.RespRenderingTaskList[0].TaskType != "RenderPriority" || ti.RespRenderingTaskList[0].TotalFrames != 1 {
			t.Fatalf("priority child: %+v", ti)
		}
		if n := w.drain(1); n != 1 {
			t.Fatalf("test stage rendered %d frames", n)
		}
		e.waitStatus(e.cl, id4, 5*time.Second, StatusFinishedTest)
		e.call(e.cl, "/api/render/task/startTask", map[string]any{"taskIds": []int64{id4}}, nil)
		if n := w.drain(1); n != 3 {
			t.Fatalf("main stage rendered %d frames", n)
		}
		e.waitStatus(e.cl, id4, 5*time.Second, StatusFinished)

		// Tiles: four blocks per frame, stitched to the frame's size.
		id5 := e.newTask(e.cl, []byte("scene five"), map[string]string{"tiles": "4", "tiles_type": "block"}, map[string]string{"frames": "1", "width": "65", "height": "49"})
		ti = e.waitStatus(e.cl, id5, 5*time.Second, StatusWaiting)
		if ti.TotalFrames != 4 {
			t.Fatalf("tiled units: %d", ti.TotalFrames)
		}
		w.drain(1)
		e.waitStatus(e.cl, id5, 5*time.Second, StatusFinished)
		_, lb = e.get(e.srv.URL+transferPrefix+"/list?prefix=/output/"+strconv.FormatInt(id5, 10), map[string]string{"userKey": key})
		_ = json.Unmarshal(lb, &list)
		if len(list.Files) != 1 {
			t.Fatalf("stitched outputs: %s", lb)
		}
		_, img := e.get(e.srv.URL+transferPrefix+"/files?path="+list.Files[0]["path"].(string), map[string]string{"userKey": key})
		if w, h := decodePNG(t, img); w != 65 || h != 49 {
			t.Fatalf("stitched %dx%d", w, h)
		}

		// Submission errors are clear.
		var c2 struct {
			IDs []int64 `json:"taskIdList"`
		}
		e.call(e.cl, "/api/render/task/createTask", nil, &c2)
		bad := []struct {
			name string
			tj   map[string]any
			tips string
			want int
			msg  string
		}{
			{"missing scene", map[string]any{"task_info": map[string]string{"cg_id": "2007", "input_cg_file": "D:/none.blend"}, "scene_info": map[string]any{"common": common}}, "", CodeInvalid, "has not been uploaded"},
			{"unknown software", map[string]any{"task_info": map[string]string{"cg_id": "9999", "input_cg_file": "x"}}, "", CodeInvalid, "not supported"},
			{"bad frames", map[string]any{"task_info": map[string]string{"cg_id": "2007", "input_cg_file": fmt.Sprintf("D:/proj%d/scene.blend", id)}, "scene_info": map[string]any{"common": map[string]string{"frames": "9-1"}}}, "", CodeInvalid, "frame"},
			{"error tip", map[string]any{"task_info": map[string]string{"cg_id": "2007", "input_cg_file": "x"}}, `{"35002":"cache.abc"}`, CodeInvalid, "35002"},
		}
		for _, b := range bad {
			e.call(e.cl, "/api/render/task/taskJsonFile", map[string]any{"taskId": c2.IDs[0], "fileName": "task.json", "content": string(mustJSON(b.tj))}, nil)
			tips := b.tips
			if tips == "" {
				tips = `{"35001":"map.jpg"}` // a warning never blocks
			}
			e.call(e.cl, "/api/render/task/taskJsonFile", map[string]any{"taskId": c2.IDs[0], "fileName": "tips.json", "content": tips}, nil)
			env, _ := e.cl.Call(e.ctx, "/api/render/task/submitTask", map[string]any{"taskId": c2.IDs[0]}, nil)
			if env.Code != b.want || !strings.Contains(env.Message, b.msg) {
				t.Errorf("%s: %d %q", b.name, env.Code, env.Message)
			}
		}
	})
}

// TestNewSubAccountShowsWithinCacheTTL checks the sub-account cache: a sub-account added in the store
// shows in its main account's list once cacheTTL has passed since the list was read.
func TestNewSubAccountShowsWithinCacheTTL(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		t0 := time.Now()
		if subs, err := e.api.subAccounts(e.ctx, e.acct.ID, t0); err != nil || len(subs) != 0 {
			t.Fatalf("sub-accounts before: %v, %v", subs, err)
		}
		e.newAccount("alice-sub", e.acct.ID)
		for _, tc := range []struct {
			after time.Duration
			n     int
		}{{time.Second, 0}, {cacheTTL + time.Second, 1}} {
			subs, err := e.api.subAccounts(e.ctx, e.acct.ID, t0.Add(tc.after))
			if err != nil || len(subs) != tc.n {
				t.Errorf("%v after the read: %d sub-accounts (%v), want %d", tc.after, len(subs), err, tc.n)
			}
		}
	})
}

// TestRevokedKeyStopsWithinCacheTTL checks the accessId cache: a key revoked in the store may still
// sign for up to cacheTTL after it was last read, and not after.
func TestRevokedKeyStopsWithinCacheTTL(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		t0 := time.Now()
		k, err := e.api.accessKey(e.ctx, e.cl.AccessID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.RevokeCredential(e.ctx, k.cred.ID, t0); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			after time.Duration
			live  bool
		}{{time.Second, true}, {cacheTTL + time.Second, false}, {cacheTTL + 2*time.Second, false}} {
			_, err := e.api.accessKey(e.ctx, e.cl.AccessID, t0.Add(tc.after))
			if got := err == nil; got != tc.live {
				t.Errorf("%v after the read: accepted %v (%v), want %v", tc.after, got, err, tc.live)
			}
		}
	})
}
