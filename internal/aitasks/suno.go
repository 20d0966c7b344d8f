package aitasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"taskcenter/internal/store"
)

// Suno actions, as new-api names them.
const (
	ActionMusic  = "MUSIC"
	ActionLyrics = "LYRICS"
)

// maxUpstreamAnswer bounds what is read of an upstream's answer.
const maxUpstreamAnswer = 8 << 20

// sunoSubmitBody is what new-api reads of a music submit; other fields are passed on untouched.
type sunoSubmitBody struct {
	Prompt               string `json:"prompt"`
	Mv                   string `json:"mv"`
	Title                string `json:"title"`
	Tags                 string `json:"tags"`
	GptDescriptionPrompt string `json:"gpt_description_prompt"`
	NotifyHook           string `json:"notify_hook"`
	TaskID               string `json:"task_id"`
}

func (a *API) sunoSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := a.keyOf(r.Context(), r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	action := strings.ToUpper(r.PathValue("action"))
	if action != ActionMusic && action != ActionLyrics {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_action", "unknown action "+r.PathValue("action")+": MUSIC or LYRICS"))
		return
	}
	raw, err := a.readBody(w, r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	var b sunoSubmitBody
	if err := json.Unmarshal(raw, &b); err != nil {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "malformed JSON: "+err.Error()))
		return
	}
	switch {
	case action == ActionLyrics && strings.TrimSpace(b.Prompt) == "":
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "prompt_empty: a lyrics task needs a prompt"))
		return
	case action == ActionMusic && strings.TrimSpace(b.Prompt) == "" && strings.TrimSpace(b.GptDescriptionPrompt) == "":
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "prompt_empty: a music task needs prompt or gpt_description_prompt"))
		return
	}
	if b.NotifyHook != "" {
		if err := a.checkHook(b.NotifyHook); err != nil {
			a.relayFail(w, r, err)
			return
		}
	}
	for _, s := range []string{b.Prompt, b.Mv, b.Title, b.Tags, b.GptDescriptionPrompt} {
		if strings.ContainsRune(s, 0) {
			a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "text must not contain NUL bytes"))
			return
		}
	}
	model := "suno_" + strings.ToLower(action)
	if b.Mv != "" {
		model = b.Mv
	}
	input := b.Prompt
	if input == "" {
		input = b.GptDescriptionPrompt
	}
	props, _ := json.Marshal(map[string]string{"input": input, "origin_model_name": model, "upstream_model_name": model})
	t, err := a.submit(r.Context(), c, submitReq{platform: PlatformSuno, action: action, model: model, out: outbound{body: raw},
		properties: props, notifyHook: b.NotifyHook})
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskAnswer{Code: "success", Data: t.TaskID})
}

// sunoFetch answers the caller's tasks among ids; others' and unknown ids are left out.
func (a *API) sunoFetch(w http.ResponseWriter, r *http.Request) {
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
	var q struct {
		IDs    []any  `json:"ids"`
		Action string `json:"action"`
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "malformed JSON: "+err.Error()))
		return
	}
	if len(q.IDs) > 1000 {
		a.relayFail(w, r, rerr(http.StatusBadRequest, "invalid_request", "at most 1000 ids"))
		return
	}
	ids := make([]string, 0, len(q.IDs))
	for _, v := range q.IDs {
		s := fmt.Sprint(v)
		if !strings.ContainsRune(s, 0) {
			ids = append(ids, s)
		}
	}
	ts, err := a.st.GetAITasksByPublicIDs(r.Context(), c.user.TenantID, c.user.ID, ids)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	items := make([]taskItem, 0, len(ts))
	for _, t := range ts {
		if q.Action == "" || strings.EqualFold(q.Action, t.Action) {
			items = append(items, itemOf(t, false))
		}
	}
	writeJSON(w, http.StatusOK, taskAnswer{Code: "success", Data: items})
}

func (a *API) sunoFetchOne(w http.ResponseWriter, r *http.Request) {
	c, err := a.keyOf(r.Context(), r)
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	t, err := a.st.GetAITaskByPublicID(r.Context(), c.user.TenantID, c.user.ID, r.PathValue("id"))
	if err != nil {
		a.relayFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskAnswer{Code: "success", Data: itemOf(t, false)})
}

// sunoAdaptor speaks the Suno-API project's protocol, which new-api's Suno channel was built
// against: POST {base}/suno/submit/{music|lyrics} answers {"code":"success","data":"<id>"};
// POST {base}/suno/fetch {"ids":[...]} answers {"code":"success","data":[{task...}]}.
type sunoAdaptor struct{}

func (sunoAdaptor) submit(ctx context.Context, hc *http.Client, ch upstream, t store.AITask, out outbound) (string, error) {
	var ans struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := callJSON(ctx, hc, ch, http.MethodPost, "/suno/submit/"+strings.ToLower(t.Action), out.contentType, out.body, &ans); err != nil {
		return "", err
	}
	var id string
	if ans.Code != "success" {
		return "", &upstreamError{Status: http.StatusBadRequest, Code: "fail_to_fetch_task", Msg: cmpOr(ans.Message, ans.Code)}
	}
	if err := json.Unmarshal(ans.Data, &id); err != nil || id == "" {
		return "", &upstreamError{Status: http.StatusInternalServerError, Code: "unmarshal_response_body_failed",
			Msg: "the upstream answered no task id", Retry: true}
	}
	return id, nil
}

func (sunoAdaptor) fetch(ctx context.Context, hc *http.Client, ch upstream, ts []store.AITask) (map[string]state, error) {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.UpstreamID
	}
	body, _ := json.Marshal(map[string]any{"ids": ids})
	var ans struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Data    []struct {
			TaskID     string          `json:"task_id"`
			Status     string          `json:"status"`
			FailReason string          `json:"fail_reason"`
			StartTime  int64           `json:"start_time"`
			FinishTime int64           `json:"finish_time"`
			Progress   string          `json:"progress"`
			Data       json.RawMessage `json:"data"`
		} `json:"data"`
	}
	if err := callJSON(ctx, hc, ch, http.MethodPost, "/suno/fetch", "", body, &ans); err != nil {
		return nil, err
	}
	if ans.Code != "success" {
		return nil, &upstreamError{Status: http.StatusOK, Code: "fetch_failed", Msg: cmpOr(ans.Message, ans.Code), Retry: true}
	}
	out := make(map[string]state, len(ans.Data))
	for _, d := range ans.Data {
		out[d.TaskID] = state{Status: normStatus(d.Status), Progress: d.Progress, FailReason: d.FailReason,
			Start: d.StartTime, Finish: d.FinishTime, Data: d.Data}
	}
	return out, nil
}

// normStatus maps an upstream status onto new-api's; anything unknown is UNKNOWN.
func normStatus(s string) string {
	switch s = strings.ToUpper(s); s {
	case StatusNotStart, StatusSubmitted, StatusQueued, StatusInProgress, StatusFailure, StatusSuccess:
		return s
	}
	return StatusUnknown
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// callJSON makes one call to a channel with its key and decodes a 200 answer into out; anything
// else is an upstreamError.
// callJSON calls the channel and decodes its JSON answer into out; a body is sent as contentType
// (empty: application/json).
func callJSON(ctx context.Context, hc *http.Client, ch upstream, method, path, contentType string, body []byte, out any) error {
	b, err := call(ctx, hc, ch, method, path, contentType, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &upstreamError{Status: http.StatusInternalServerError, Code: "unmarshal_response_body_failed",
			Msg: "the upstream answered garbage", Retry: true}
	}
	return nil
}

func call(ctx context.Context, hc *http.Client, ch upstream, method, path, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(ch.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, &upstreamError{Code: "build_request_failed", Msg: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+ch.key)
	if body != nil {
		req.Header.Set("Content-Type", cmpOr(contentType, "application/json"))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &upstreamError{Code: "do_request_failed", Msg: "no answer from the upstream: " + err.Error(), Retry: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamAnswer))
	if err != nil {
		return nil, &upstreamError{Status: resp.StatusCode, Code: "read_response_body_failed", Msg: err.Error(), Retry: true}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errorOfStatus(resp.StatusCode, b)
	}
	return b, nil
}

// writeJSON answers v with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"code":"internal_error","message":"encode answer"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
