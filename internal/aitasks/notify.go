package aitasks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// notify_hook callbacks. A task that ends with a notify_hook gets a notify job in the transaction of
// its final status change; an in-process worker POSTs the task (as the lists show it) to the hook,
// and the engine retries a failed attempt with backoff. Each POST carries
//
//	X-Taskcenter-Timestamp: Unix seconds
//	X-Taskcenter-Signature: hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// where secret is the user's notify secret (shown by `taskcenter admin aitasks users create` and
// `users secret`). A receiver recomputes the signature and refuses an old timestamp.

type notifySpec struct {
	TaskID int64 `json:"task_id"`
}

func (a *API) notifyJob(t store.AITask) engine.JobSpec {
	spec, _ := json.Marshal(notifySpec{TaskID: t.ID})
	return engine.JobSpec{AccountID: t.TenantID, Kind: KindNotify, Name: "notify " + t.TaskID,
		MaxAttempts: a.cfg.NotifyAttempts, UnitTimeout: engine.Duration(time.Minute),
		Units: []engine.UnitSpec{{Capability: capabilityNotify, Spec: spec}}}
}

// NotifySecret is the key a user's notify_hook callbacks are signed with.
func (a *API) NotifySecret(userID int64) string {
	return hex.EncodeToString(a.keys.MAC("aitasks-notify", []byte(strconv.FormatInt(userID, 10))))
}

// Sign computes the signature header of a callback body.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", timestamp)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (a *API) notify(ctx context.Context, u store.Unit) (json.RawMessage, error) {
	var sp notifySpec
	if err := json.Unmarshal(u.Spec, &sp); err != nil {
		return nil, fmt.Errorf("%w: notify spec: %v", engine.ErrPermanent, err)
	}
	t, err := a.st.GetAITask(ctx, sp.TaskID)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(itemOf(t, false))
	if err != nil {
		return nil, fmt.Errorf("%w: encode task: %v", engine.ErrPermanent, err)
	}
	ts := a.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.NotifyHook, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: notify_hook: %v", engine.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Taskcenter-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Taskcenter-Signature", Sign(a.NotifySecret(t.UserID), ts, body))
	resp, err := a.hooks.Do(req)
	if errors.Is(err, errForbiddenAddr) {
		// Nothing was sent; another attempt would dial the same address.
		return nil, fmt.Errorf("%w: notify %s: %v", engine.ErrPermanent, t.TaskID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", t.TaskID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("notify %s: the hook answered %s", t.TaskID, resp.Status)
	}
	return nil, nil
}

// notifyJobFinished removes a delivered callback's job; a failed one is kept for the admin to see.
func (a *API) notifyJobFinished(ctx context.Context, j store.Job) {
	if j.Status != store.JobSucceeded {
		a.log.Warn("notify_hook callback failed for good", "job", j.ID, "name", j.Name)
		return
	}
	if err := a.eng.Purge(context.WithoutCancel(ctx), j.ID); err != nil {
		a.log.Warn("purge notify job", "job", j.ID, "err", err)
	}
}
