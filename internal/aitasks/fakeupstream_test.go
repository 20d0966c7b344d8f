package aitasks_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Modes of the fake upstream's answers.
const (
	modeOK      = "ok"
	mode429     = "429"
	mode500     = "500"
	modeGarbage = "garbage"
	modeHang    = "hang"
	mode401     = "401"
)

// fakeUpstream speaks the Suno-API project's protocol (POST /suno/submit/{music,lyrics},
// POST /suno/fetch) and OpenAI's video protocol (POST /v1/videos as JSON or as a multipart form with
// the file input_reference, POST /v1/videos/{id}/remix, GET /v1/videos/{id},
// GET /v1/videos/{id}/content). Each fetch moves a task one step along SUBMITTED, QUEUED,
// IN_PROGRESS and then SUCCESS, or FAILURE when its prompt contains "fail"; a prompt containing
// "stall" never finishes. Switches make it answer 429, 500, garbage, 401 or hang.
type fakeUpstream struct {
	t   testing.TB
	srv *httptest.Server
	key string

	mu          sync.Mutex
	submitMode  string
	fetchMode   string
	tasks       map[string]*fakeTask
	seq         int
	submits     int
	fetches     int
	maxBatch    int
	inFlight    map[string]int // fetches of a task under way
	overlaps    int            // a task fetched by two callers at once
	failAllNext bool           // the next fetch of any task answers FAILURE
	closed      chan struct{}  // closed when the test ends: hanging answers return

	references map[string]fakeReference // video id -> the input_reference it was sent with
	remixes    map[string]string        // remix's video id -> the video it remixed
	cdnHits    int                      // downloads of result files
}

// fakeReference is an input_reference file a video submit carried, with the form's fields.
type fakeReference struct {
	name, contentType string
	data              []byte
	fields            map[string]string
}

type fakeTask struct {
	id, kind, prompt string
	step             int
	fail             bool
}

func newFakeUpstream(t testing.TB) *fakeUpstream {
	f := &fakeUpstream{t: t, key: "upstream-secret", submitMode: modeOK, fetchMode: modeOK,
		tasks: map[string]*fakeTask{}, inFlight: map[string]int{}, closed: make(chan struct{}),
		references: map[string]fakeReference{}, remixes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /suno/submit/{action}", f.sunoSubmit)
	mux.HandleFunc("POST /suno/fetch", f.sunoFetch)
	mux.HandleFunc("POST /v1/videos", f.videoSubmit)
	mux.HandleFunc("GET /v1/videos/{id}", f.videoGet)
	mux.HandleFunc("GET /v1/videos/{id}/content", f.videoContent)
	mux.HandleFunc("POST /v1/videos/{id}/remix", f.videoRemix)
	mux.HandleFunc("GET /cdn/{file}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.cdnHits++
		f.mu.Unlock()
		_, _ = io.WriteString(w, "FILE:"+r.PathValue("file")) // the provider's expiring result links
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.closed) }) // runs first
	return f
}

func (f *fakeUpstream) set(submit, fetch string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if submit != "" {
		f.submitMode = submit
	}
	if fetch != "" {
		f.fetchMode = fetch
	}
}

func (f *fakeUpstream) counts() (submits, fetches, maxBatch, overlaps int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submits, f.fetches, f.maxBatch, f.overlaps
}

// refuse answers a switched mode; it reports whether it did.
func (f *fakeUpstream) refuse(w http.ResponseWriter, r *http.Request, mode string) bool {
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
		return true
	}
	switch mode {
	case mode429:
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
	case mode500:
		http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
	case mode401:
		http.Error(w, `{"error":"no"}`, http.StatusUnauthorized)
	case modeGarbage:
		_, _ = io.WriteString(w, "<html>not json")
	case modeHang:
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-f.closed:
		}
	default:
		return false
	}
	return true
}

func (f *fakeUpstream) newTask(kind, prompt string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits++
	f.seq++
	id := fmt.Sprintf("up-%d", f.seq)
	f.tasks[id] = &fakeTask{id: id, kind: kind, prompt: prompt, fail: strings.Contains(prompt, "fail")}
	return id
}

func (f *fakeUpstream) mode(submit bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if submit {
		return f.submitMode
	}
	return f.fetchMode
}

func (f *fakeUpstream) sunoSubmit(w http.ResponseWriter, r *http.Request) {
	if f.refuse(w, r, f.mode(true)) {
		return
	}
	var b struct {
		Prompt string `json:"prompt"`
		Desc   string `json:"gpt_description_prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, `{"code":"bad_request"}`, http.StatusBadRequest)
		return
	}
	id := f.newTask(r.PathValue("action"), b.Prompt+b.Desc)
	writeJSON(w, map[string]any{"code": "success", "message": "", "data": id})
}

// advance moves the task one step and returns its state in the Suno-API shape.
func (f *fakeUpstream) advance(t *fakeTask) map[string]any {
	if !strings.Contains(t.prompt, "stall") {
		t.step++
	}
	if f.failAllNext {
		t.fail, t.step = true, 4
	}
	out := map[string]any{"task_id": t.id, "action": strings.ToUpper(t.kind), "submit_time": 1700000000}
	switch {
	case t.step <= 1:
		out["status"], out["progress"] = "SUBMITTED", "0%"
	case t.step == 2:
		out["status"], out["progress"] = "QUEUED", "0%"
	case t.step == 3:
		out["status"], out["progress"] = "IN_PROGRESS", "30%"
	case t.fail:
		out["status"], out["fail_reason"], out["progress"] = "FAILURE", "upstream says no", "100%"
	default:
		out["status"], out["progress"], out["finish_time"] = "SUCCESS", "100%", 1700000100
		if t.kind == "lyrics" {
			out["data"] = map[string]any{"text": "[Verse]\nla la la", "title": "Song", "status": "complete"}
		} else {
			out["data"] = []map[string]any{
				{"id": t.id + "-a", "audio_url": f.srv.URL + "/cdn/" + t.id + "-a.mp3", "image_url": f.srv.URL + "/cdn/a.jpg", "status": "complete"},
				{"id": t.id + "-b", "audio_url": f.srv.URL + "/cdn/" + t.id + "-b.mp3", "image_url": f.srv.URL + "/cdn/b.jpg", "status": "complete"},
			}
		}
	}
	return out
}

func (f *fakeUpstream) enter(ids []string) func() {
	f.mu.Lock()
	f.fetches++
	f.maxBatch = max(f.maxBatch, len(ids))
	for _, id := range ids {
		if f.inFlight[id] > 0 {
			f.overlaps++
		}
		f.inFlight[id]++
	}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		for _, id := range ids {
			f.inFlight[id]--
		}
		f.mu.Unlock()
	}
}

func (f *fakeUpstream) sunoFetch(w http.ResponseWriter, r *http.Request) {
	var b struct {
		IDs []string `json:"ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, `{"code":"bad_request"}`, http.StatusBadRequest)
		return
	}
	defer f.enter(b.IDs)()
	time.Sleep(time.Millisecond) // a fetch takes a moment, so that overlapping fetches would meet
	if f.refuse(w, r, f.mode(false)) {
		return
	}
	f.mu.Lock()
	data := []map[string]any{}
	for _, id := range b.IDs {
		if t := f.tasks[id]; t != nil {
			data = append(data, f.advance(t))
		}
	}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"code": "success", "message": "", "data": data})
}

func (f *fakeUpstream) videoSubmit(w http.ResponseWriter, r *http.Request) {
	if f.refuse(w, r, f.mode(true)) {
		return
	}
	var b struct {
		Model  string `json:"model"`
		Prompt string `json:"prompt"`
	}
	var ref *fakeReference
	if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		fields, file, err := readForm(r.Body, params["boundary"])
		if err != nil {
			http.Error(w, `{"error":{"message":"bad multipart"}}`, http.StatusBadRequest)
			return
		}
		b.Model, b.Prompt, ref = fields["model"], fields["prompt"], file
	} else if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		b.Prompt = ""
	}
	if b.Prompt == "" {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	id := f.newTask("video", b.Prompt)
	if ref != nil {
		f.mu.Lock()
		f.references[id] = *ref
		f.mu.Unlock()
	}
	writeJSON(w, map[string]any{"id": id, "object": "video", "model": b.Model, "status": "queued", "progress": 0})
}

// readForm reads a multipart form as OpenAI's video API takes it: text fields, and the file
// input_reference.
func readForm(body io.Reader, boundary string) (map[string]string, *fakeReference, error) {
	fields := map[string]string{}
	var ref *fakeReference
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return fields, ref, nil
		}
		if err != nil {
			return nil, nil, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		if p.FormName() == "input_reference" && p.FileName() != "" {
			ref = &fakeReference{name: p.FileName(), contentType: p.Header.Get("Content-Type"), data: data, fields: fields}
			continue
		}
		fields[p.FormName()] = string(data)
	}
}

// videoRemix answers OpenAI's remix: body {"prompt"} and nothing else, of a video it knows.
func (f *fakeUpstream) videoRemix(w http.ResponseWriter, r *http.Request) {
	if f.refuse(w, r, f.mode(true)) {
		return
	}
	var b struct {
		Prompt string `json:"prompt"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Prompt == "" {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	origin := r.PathValue("id")
	f.mu.Lock()
	known := f.tasks[origin] != nil && f.tasks[origin].kind == "video"
	f.mu.Unlock()
	if !known {
		http.Error(w, `{"error":{"message":"video not found"}}`, http.StatusNotFound)
		return
	}
	id := f.newTask("video", b.Prompt)
	f.mu.Lock()
	f.remixes[id] = origin
	f.mu.Unlock()
	writeJSON(w, map[string]any{"id": id, "object": "video", "status": "queued", "progress": 0, "remixed_from_video_id": origin})
}

func (f *fakeUpstream) videoGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	defer f.enter([]string{id})()
	if f.refuse(w, r, f.mode(false)) {
		return
	}
	f.mu.Lock()
	t := f.tasks[id]
	var st map[string]any
	if t != nil {
		st = f.advance(t)
	}
	f.mu.Unlock()
	if t == nil {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	v := map[string]any{"id": id, "object": "video", "model": "sora-2", "progress": 0}
	switch st["status"] {
	case "SUBMITTED", "QUEUED":
		v["status"] = "queued"
	case "IN_PROGRESS":
		v["status"], v["progress"] = "in_progress", 30
	case "FAILURE":
		v["status"], v["error"] = "failed", map[string]any{"code": "x", "message": "upstream says no"}
	default:
		v["status"], v["progress"], v["completed_at"] = "completed", 100, 1700000100
	}
	writeJSON(w, v)
}

func (f *fakeUpstream) videoContent(w http.ResponseWriter, r *http.Request) {
	if f.refuse(w, r, modeOK) {
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	_, _ = io.WriteString(w, "MP4DATA:"+r.PathValue("id"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// failAll makes every later fetch answer FAILURE.
func (f *fakeUpstream) failAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAllNext = true
}

// addStalled makes the upstream know tasks that never finish, by id.
func (f *fakeUpstream) addStalled(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.tasks[id] = &fakeTask{id: id, kind: "music", prompt: "stall"}
	}
}
