package aitasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/store"
)

// Actions of video tasks, as new-api names them.
const (
	ActionGenerate = "generate"      // POST /v1/videos
	ActionRemix    = "remixGenerate" // POST /v1/videos/{id}/remix; priced as ActionGenerate
)

// maxFormField bounds one text field of a multipart video submit.
const maxFormField = 64 << 10

// videoObject is OpenAI's video object, as new-api's /v1/videos routes answer it.
type videoObject struct {
	ID                 string          `json:"id"`
	Object             string          `json:"object"`
	Model              string          `json:"model"`
	Status             string          `json:"status"`
	Progress           int             `json:"progress"`
	CreatedAt          int64           `json:"created_at"`
	CompletedAt        int64           `json:"completed_at,omitempty"`
	Seconds            string          `json:"seconds,omitempty"`
	Size               string          `json:"size,omitempty"`
	RemixedFromVideoID string          `json:"remixed_from_video_id,omitempty"`
	Error              *videoError     `json:"error,omitempty"`
	Metadata           json.RawMessage `json:"metadata,omitempty"`
}

type videoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// videoForm is a video submit's fields, read from a JSON body or a multipart form.
type videoForm struct {
	Model, Prompt, Seconds, Size, NotifyHook string
	// Reference is the file name of the multipart form's input_reference ("" without one).
	Reference string
}

// videoSubmit creates a video: a JSON body, or a multipart form (OpenAI's way of sending the image
// input_reference) that is relayed to the channel as sent.
func (a *API) videoSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := a.keyOf(r.Context(), r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	var f videoForm
	var out outbound
	ct := r.Header.Get("Content-Type")
	if mt, params, _ := mime.ParseMediaType(ct); mt == "multipart/form-data" {
		raw, err := a.readBodyMax(w, r, a.cfg.MaxUploadBytes)
		if err != nil {
			a.relayFail(w, r, err)
			return
		}
		if f, err = parseVideoForm(raw, params["boundary"]); err != nil {
			a.relayFail(w, r, err)
			return
		}
		out = outbound{contentType: ct, body: raw}
	} else {
		raw, err := a.readBody(w, r)
		if err != nil {
			a.relayFail(w, r, err)
			return
		}
		var b struct {
			Model      string `json:"model"`
			Prompt     string `json:"prompt"`
			Seconds    any    `json:"seconds"`
			Size       string `json:"size"`
			NotifyHook string `json:"notify_hook"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "malformed JSON: "+err.Error()))
			return
		}
		f = videoForm{Model: b.Model, Prompt: b.Prompt, Size: b.Size, NotifyHook: b.NotifyHook}
		if b.Seconds != nil {
			f.Seconds = fmt.Sprint(b.Seconds)
		}
		out = outbound{body: raw}
	}
	switch {
	case strings.TrimSpace(f.Prompt) == "":
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "prompt is required"))
		return
	case strings.TrimSpace(f.Model) == "":
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "model is required"))
		return
	case strings.ContainsRune(f.Prompt+f.Model+f.Size+f.Seconds+f.Reference, 0):
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "text must not contain NUL bytes"))
		return
	}
	if f.NotifyHook != "" {
		if err := a.checkHook(f.NotifyHook); err != nil {
			a.relayFail(w, r, err)
			return
		}
	}
	p := map[string]string{"input": f.Prompt, "origin_model_name": f.Model,
		"upstream_model_name": f.Model, "seconds": f.Seconds, "size": f.Size}
	if f.Reference != "" {
		p["input_reference"] = f.Reference
	}
	props, _ := json.Marshal(p)
	t, err := a.submit(r.Context(), c, submitReq{platform: PlatformVideo, action: ActionGenerate, model: f.Model,
		out: out, properties: props, notifyHook: f.NotifyHook})
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, videoOf(t))
}

// parseVideoForm reads a multipart video submit: the text fields model, prompt, seconds, size and
// notify_hook, and at most one file input_reference (not empty). Other parts are left to the
// upstream, as unknown JSON fields are.
func parseVideoForm(raw []byte, boundary string) (videoForm, error) {
	bad := func(msg string) error { return rerr(http.StatusBadRequest, "invalid_request", msg) }
	if boundary == "" {
		return videoForm{}, bad("malformed multipart body: the Content-Type names no boundary")
	}
	var f videoForm
	mr := multipart.NewReader(bytes.NewReader(raw), boundary)
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) && parts == 0 {
			return videoForm{}, bad("malformed multipart body: no part found (is the boundary right?)")
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return videoForm{}, bad("malformed multipart body: " + err.Error())
		}
		name := part.FormName()
		if part.FileName() != "" {
			n, err := io.Copy(io.Discard, part)
			if err != nil {
				return videoForm{}, bad("malformed multipart body: " + err.Error())
			}
			if name == "input_reference" {
				switch {
				case f.Reference != "":
					return videoForm{}, bad("input_reference may be sent once")
				case n == 0:
					return videoForm{}, bad("input_reference is an empty file")
				}
				f.Reference = part.FileName()
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return videoForm{}, bad("malformed multipart body: " + err.Error())
		}
		if len(v) > maxFormField {
			return videoForm{}, bad(fmt.Sprintf("field %s is longer than %d bytes", name, maxFormField))
		}
		switch name {
		case "model":
			f.Model = string(v)
		case "prompt":
			f.Prompt = string(v)
		case "seconds":
			f.Seconds = string(v)
		case "size":
			f.Size = string(v)
		case "notify_hook":
			f.NotifyHook = string(v)
		case "input_reference":
			return videoForm{}, bad("input_reference must be a file")
		}
	}
	return f, nil
}

// videoRemix creates a video from one of the caller's videos and a new prompt (OpenAI's remix):
// a new task on the original's channel, charged as a video is.
func (a *API) videoRemix(w http.ResponseWriter, r *http.Request) {
	c, err := a.keyOf(r.Context(), r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	raw, err := a.readBody(w, r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	var b struct {
		Prompt     string `json:"prompt"`
		NotifyHook string `json:"notify_hook"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "malformed JSON: "+err.Error()))
		return
	}
	switch {
	case strings.TrimSpace(b.Prompt) == "":
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "field prompt is required"))
		return
	case strings.ContainsRune(b.Prompt, 0):
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "text must not contain NUL bytes"))
		return
	}
	if b.NotifyHook != "" {
		if err := a.checkHook(b.NotifyHook); err != nil {
			a.relayFail(w, r, err)
			return
		}
	}
	origin, err := a.st.GetAITaskByPublicID(r.Context(), c.user.TenantID, c.user.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && origin.Platform != PlatformVideo) {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "task_not_exist", "task_origin_not_exist"))
		return
	}
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	if origin.UpstreamID == "" || origin.ChannelID == 0 {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "the video was never accepted upstream: nothing to remix"))
		return
	}
	var op struct {
		Seconds string `json:"seconds"`
		Size    string `json:"size"`
	}
	_ = json.Unmarshal(origin.Properties, &op)
	props, _ := json.Marshal(map[string]string{"input": b.Prompt, "origin_model_name": origin.Model,
		"upstream_model_name": origin.Model, "seconds": op.Seconds, "size": op.Size,
		"remixed_from_video_id": origin.TaskID})
	body, _ := json.Marshal(map[string]string{"prompt": b.Prompt})
	t, err := a.submit(r.Context(), c, submitReq{platform: PlatformVideo, action: ActionRemix, priceAction: ActionGenerate,
		model: origin.Model, out: outbound{path: "/v1/videos/" + url.PathEscape(origin.UpstreamID) + "/remix", body: body},
		properties: props, notifyHook: b.NotifyHook, channelID: origin.ChannelID})
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, videoOf(t))
}

func (a *API) videoGet(w http.ResponseWriter, r *http.Request) {
	c, err := a.keyOf(r.Context(), r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	t, err := a.st.GetAITaskByPublicID(r.Context(), c.user.TenantID, c.user.ID, r.PathValue("id"))
	if err != nil || t.Platform != PlatformVideo {
		a.relayFail(w, r, cmpErr(err, store.ErrNotFound))
		return
	}
	writeJSON(w, http.StatusOK, videoOf(t))
}

// videoContent streams a finished video from its channel.
func (a *API) videoContent(w http.ResponseWriter, r *http.Request) {
	c, err := a.keyOf(r.Context(), r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	t, err := a.st.GetAITaskByPublicID(r.Context(), c.user.TenantID, c.user.ID, r.PathValue("id"))
	if err != nil || t.Platform != PlatformVideo {
		a.relayFail(w, r, cmpErr(err, store.ErrNotFound))
		return
	}
	if t.Status != StatusSuccess {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "task_not_completed", "the video is not completed"))
		return
	}
	ch, err := a.st.GetAIChannel(r.Context(), t.ChannelID)
	if err != nil {
		a.relayFail(w, r, rerr(http.StatusBadGateway, "channel_not_found", "the task's channel is gone"))
		return
	}
	up, err := a.open(ch)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet,
		strings.TrimRight(up.BaseURL, "/")+"/v1/videos/"+t.UpstreamID+"/content", nil)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+up.key)
	resp, err := a.contentClient().Do(req)
	if err != nil {
		a.relayFail(w, r, rerr(http.StatusBadGateway, "do_request_failed", "no answer from the upstream"))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.relayFail(w, r, rerr(http.StatusBadGateway, "fail_to_fetch_task", "the upstream answered "+resp.Status))
		return
	}
	w.Header().Set("Content-Type", cmpOr(resp.Header.Get("Content-Type"), "video/mp4"))
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	_, _ = io.Copy(w, resp.Body)
}

// contentClient has no overall timeout (a video may be large) but the transport's.
func (a *API) contentClient() *http.Client {
	return &http.Client{Transport: a.cfg.HTTP.Transport}
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// videoOf shows a task as OpenAI's video object, under its public id.
func videoOf(t store.AITask) videoObject {
	v := videoObject{ID: t.TaskID, Object: "video", Model: t.Model, CreatedAt: t.SubmitTime}
	var props struct {
		Seconds     string `json:"seconds"`
		Size        string `json:"size"`
		RemixedFrom string `json:"remixed_from_video_id"`
	}
	_ = json.Unmarshal(t.Properties, &props)
	v.Seconds, v.Size, v.RemixedFromVideoID = props.Seconds, props.Size, props.RemixedFrom
	v.Progress, _ = strconv.Atoi(strings.TrimSuffix(t.Progress, "%"))
	switch t.Status {
	case StatusInProgress:
		v.Status = "in_progress"
	case StatusSuccess:
		v.Status, v.CompletedAt, v.Progress = "completed", t.FinishTime, 100
	case StatusFailure:
		v.Status, v.CompletedAt = "failed", t.FinishTime
		v.Error = &videoError{Code: "task_failed", Message: t.FailReason}
	default:
		v.Status = "queued"
	}
	return v
}

// videoAdaptor speaks OpenAI's video protocol: POST {base}/v1/videos, GET {base}/v1/videos/{id}.
// Status requests go out concurrently, under a per-channel rate limit.
type videoAdaptor struct{ limit *channelLimiters }

func (videoAdaptor) submit(ctx context.Context, hc *http.Client, ch upstream, _ store.AITask, out outbound) (string, error) {
	var v videoObject
	if err := callJSON(ctx, hc, ch, http.MethodPost, cmpOr(out.path, "/v1/videos"), out.contentType, out.body, &v); err != nil {
		return "", err
	}
	if v.ID == "" {
		return "", &upstreamError{Status: http.StatusInternalServerError, Code: "unmarshal_response_body_failed",
			Msg: "the upstream answered no video id", Retry: true}
	}
	return v.ID, nil
}

func (va videoAdaptor) fetch(ctx context.Context, hc *http.Client, ch upstream, ts []store.AITask) (map[string]state, error) {
	out := make(map[string]state, len(ts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, 8)
	for _, t := range ts {
		if err := va.limit.wait(ctx, ch.ID); err != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(t store.AITask) {
			defer wg.Done()
			defer func() { <-sem }()
			var v videoObject
			err := callJSON(ctx, hc, ch, http.MethodGet, "/v1/videos/"+t.UpstreamID, "", nil, &v)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			out[t.UpstreamID] = stateOfVideo(v)
		}(t)
	}
	wg.Wait()
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func stateOfVideo(v videoObject) state {
	s := state{Progress: strconv.Itoa(v.Progress) + "%"}
	switch v.Status {
	case "queued":
		s.Status = StatusQueued
	case "in_progress", "processing":
		s.Status = StatusInProgress
	case "completed":
		s.Status, s.Finish = StatusSuccess, v.CompletedAt
		data, _ := json.Marshal(map[string]any{"id": v.ID, "status": v.Status, "model": v.Model, "seconds": v.Seconds, "size": v.Size})
		s.Data = data
	case "failed":
		s.Status, s.Finish = StatusFailure, v.CompletedAt
		if v.Error != nil {
			s.FailReason = v.Error.Message
		}
	default:
		s.Status = StatusUnknown
	}
	return s
}

// channelLimiters hold one token bucket per channel: at most rate requests per second, bursts of
// one second's worth.
type channelLimiters struct {
	rate float64
	mu   sync.Mutex
	m    map[int64]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newChannelLimiters(rate float64) *channelLimiters {
	return &channelLimiters{rate: rate, m: map[int64]*bucket{}}
}

// wait blocks until channel id may make one more request.
func (l *channelLimiters) wait(ctx context.Context, id int64) error {
	for {
		l.mu.Lock()
		b := l.m[id]
		now := time.Now()
		if b == nil {
			b = &bucket{tokens: l.rate, last: now}
			l.m[id] = b
		}
		b.tokens = min(l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			l.mu.Unlock()
			return nil
		}
		wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
