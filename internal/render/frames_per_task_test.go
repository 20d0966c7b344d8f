package render

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// TestFramesPerTask: frames_per_task groups frames so that one unit renders several, and every frame
// still has its own output, progress image and thumbnail; the units' "progress" outputs (the
// executor's previews) are never a frame, a file or a thumbnail.
func TestFramesPerTask(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		common := map[string]string{"frames": "1-5", "width": "64", "height": "48"}
		id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), map[string]string{"frames_per_task": "2"}, common)
		ti := e.waitStatus(e.cl, id, 10*time.Second, StatusWaiting)
		if ti.TotalFrames != 3 {
			t.Fatalf("5 frames, 2 per unit: %d units", ti.TotalFrames)
		}
		var names []string
		var grouped float64
		for _, f := range e.frameList(e.cl, id) {
			names = append(names, f["frameIndex"].(string))
			if f["frameIndex"] == "1,2" {
				grouped = f["id"].(float64)
			}
		}
		if len(names) != 3 || names[0] != "1,2" || names[1] != "3,4" || names[2] != "5" {
			t.Fatalf("units: %v", names)
		}
		// The search finds the unit that renders a frame.
		var found struct {
			Items []map[string]any `json:"items"`
		}
		e.call(e.cl, "/api/render/task/queryTaskFrames", map[string]any{"taskId": id, "searchKeyword": "4"}, &found)
		if len(found.Items) != 1 || found.Items[0]["frameIndex"] != "3,4" {
			t.Fatalf("search for frame 4: %v", found.Items)
		}
		w := e.worker("blender")
		if n := w.drain(1); n != 3 {
			t.Fatalf("rendered %d units", n)
		}
		e.waitStatus(e.cl, id, 5*time.Second, StatusFinished)

		var proc struct {
			Grab [][]map[string]string `json:"grabInfo"`
		}
		e.call(e.cl, "/api/render/task/loadTaskProcessImg", map[string]any{"taskId": id}, &proc)
		if len(proc.Grab) != 5 {
			t.Fatalf("progress rows: %d, want one per frame", len(proc.Grab))
		}
		seen := map[string]bool{}
		for i, row := range proc.Grab {
			if len(row) != 1 || row[0]["frameIndex"] != strconv.Itoa(i+1) {
				t.Fatalf("row %d: %v", i, row)
			}
			code, body := e.get(row[0]["grabUrl"], nil)
			if code != 200 {
				t.Fatalf("frame %d image: %d", i+1, code)
			}
			if w, h := decodePNG(t, body); w != 64 || h != 48 {
				t.Fatalf("frame %d image %dx%d", i+1, w, h)
			}
			seen[row[0]["grabUrl"]] = true
		}
		if len(seen) != 5 {
			t.Fatalf("frames share images: %d distinct of 5", len(seen))
		}
		var thumbs []string
		e.call(e.cl, "/api/render/task/loadingFrameThumbnail", map[string]any{"id": int64(grouped), "frameStatus": 4}, &thumbs)
		if len(thumbs) != 2 {
			t.Fatalf("thumbnails of the unit of frames 1 and 2: %v", thumbs)
		}
		for _, u := range thumbs {
			_, b := e.get(u, nil)
			if w, _ := decodePNG(t, b); w != 16 {
				t.Fatalf("a thumbnail %d pixels wide, want 16 (not the unit's progress image)", w)
			}
		}
		// One output per frame in the transfer service.
		var list struct {
			Files []map[string]any `json:"files"`
		}
		_, lb := e.get(e.srv.URL+transferPrefix+"/list?prefix=/output/"+strconv.FormatInt(id, 10), map[string]string{"userKey": e.transferKey(e.cl)})
		if err := json.Unmarshal(lb, &list); err != nil || len(list.Files) != 5 {
			t.Fatalf("outputs: %s", lb)
		}
		if strings.Contains(string(lb), "progress") {
			t.Fatalf("a progress image listed as a file: %s", lb)
		}

		// Bad values are refused at submission.
		for _, bad := range []string{"0", "-1", "1001", "two"} {
			var c struct {
				IDs []int64 `json:"taskIdList"`
			}
			e.call(e.cl, "/api/render/task/createTask", nil, &c)
			tj := map[string]any{"task_info": map[string]string{"cg_id": "2007", "input_cg_file": "D:/proj" + strconv.FormatInt(id, 10) + "/scene.blend", "frames_per_task": bad},
				"scene_info": map[string]any{"common": common}}
			up := map[string]any{"asset": []map[string]string{{"local": "D:/proj" + strconv.FormatInt(id, 10) + "/scene.blend", "server": "/D/proj" + strconv.FormatInt(id, 10) + "/scene.blend"}}}
			e.call(e.cl, "/api/render/task/taskJsonFile", map[string]any{"taskId": c.IDs[0], "fileName": "task.json", "content": string(mustJSON(tj))}, nil)
			e.call(e.cl, "/api/render/task/taskJsonFile", map[string]any{"taskId": c.IDs[0], "fileName": "upload.json", "content": string(mustJSON(up))}, nil)
			if code := e.code(e.cl, "/api/render/task/submitTask", map[string]any{"taskId": c.IDs[0]}); code != CodeInvalid {
				t.Errorf("frames_per_task %q: code %d", bad, code)
			}
		}
	})
}
