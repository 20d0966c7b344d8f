package aitasks

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Platforms.
const (
	PlatformSuno  = "suno"
	PlatformVideo = "video"
)

// upstream is a channel with its key opened.
type upstream struct {
	store.AIChannel
	key string
}

// state is what an upstream says of one task.
type state struct {
	Status     string
	Progress   string
	FailReason string
	Start      int64
	Finish     int64
	Data       json.RawMessage
}

// adaptor speaks one platform's upstream protocol.
type adaptor interface {
	// submit sends the task's request (out: its body, Content-Type and, for a route other than the
	// platform's submit route, its path) to the channel and returns the upstream's task id.
	submit(ctx context.Context, hc *http.Client, ch upstream, t store.AITask, out outbound) (string, error)
	// fetch asks the channel for the tasks' states, keyed by upstream id; a task left out is unknown
	// to the upstream this time.
	fetch(ctx context.Context, hc *http.Client, ch upstream, ts []store.AITask) (map[string]state, error)
}

// upstreamError is a failed call to an upstream: its HTTP status (0: no answer) and whether another
// channel may do better.
type upstreamError struct {
	Status int
	Code   string
	Msg    string
	Retry  bool // 429, 5xx, no answer, garbage: try another channel
	Auth   bool // 401, 403: counts towards disabling the channel
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("upstream %d %s: %s", e.Status, e.Code, e.Msg)
}

// errorOfStatus classifies a non-200 answer.
func errorOfStatus(status int, body []byte) *upstreamError {
	msg := string(body)
	if len(msg) > 300 {
		msg = msg[:300]
	}
	e := &upstreamError{Status: status, Code: "fail_to_fetch_task", Msg: msg}
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		e.Retry = true
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Retry, e.Auth = true, true
	}
	return e
}

// outbound is what a submit sends its channel.
type outbound struct {
	path        string // the upstream route; empty: the platform's submit route
	contentType string // empty: application/json
	body        []byte
}

// submitReq is a relay submit after its dialect's checks.
type submitReq struct {
	platform, action, model string
	// priceAction is the action whose price is charged (empty: action): a video remix is priced
	// as a video.
	priceAction string
	out         outbound // what the upstream is sent
	properties  json.RawMessage
	notifyHook  string
	// channelID, when set, is the one channel the task may go to (a remix goes where its video is).
	channelID int64
}

// submit charges the caller, sends the task to a channel (retrying others) and returns the task.
// Quota is taken once, in the transaction that creates the task, however many channels are tried; a
// submit that fails everywhere gives it back at once.
func (a *API) submit(ctx context.Context, c caller, req submitReq) (store.AITask, error) {
	priceAction := cmpOr(req.priceAction, req.action)
	price, err := a.price(ctx, c.user.TenantID, req.platform, priceAction, req.model)
	if errors.Is(err, store.ErrNotFound) {
		return store.AITask{}, rerr(http.StatusBadRequest, "model_price_error",
			fmt.Sprintf("no price is set for %s %s %s", req.platform, priceAction, req.model))
	}
	if err != nil {
		return store.AITask{}, err
	}
	channels, err := a.pick(ctx, c.user.TenantID, req.platform, req.model)
	if err != nil {
		return store.AITask{}, err
	}
	if req.channelID != 0 {
		channels = slices.DeleteFunc(channels, func(ch store.AIChannel) bool { return ch.ID != req.channelID })
	}
	if len(channels) == 0 && req.channelID != 0 {
		return store.AITask{}, rerr(http.StatusServiceUnavailable, "no_available_channel",
			"the channel of the original task is not available")
	}
	if len(channels) == 0 {
		return store.AITask{}, rerr(http.StatusServiceUnavailable, "no_available_channel",
			fmt.Sprintf("no enabled channel serves %s model %s", req.platform, req.model))
	}
	if err := a.checkQuota(ctx, c, price.Quota); err != nil {
		return store.AITask{}, err
	}

	now := a.now()
	t := store.AITask{TenantID: c.user.TenantID, UserID: c.user.ID, KeyID: c.key.ID, TaskID: "task_" + auth.RandomHex(16),
		Platform: req.platform, Action: req.action, Model: req.model, Status: StatusNotStart, Progress: "0%",
		Quota: price.Quota, SubmitTime: now.Unix(), Properties: req.properties, Data: json.RawMessage("{}"),
		NotifyHook: req.notifyHook, Active: true, Deadline: now.Add(a.cfg.TaskTimeout), CreatedAt: now}
	if t, err = a.create(ctx, creation{task: t, account: c.user.AccountID,
		note: req.platform + " " + req.action + " " + req.model}); err != nil {
		return store.AITask{}, err
	}

	// A client that hangs up now must not leave a task the upstream accepted without its record: the
	// upstream calls run to their own timeout whatever the request does.
	ctx = context.WithoutCancel(ctx)
	var last *upstreamError
	for i, ch := range channels {
		if i > a.cfg.Retries {
			break
		}
		up, err := a.open(ch)
		if err != nil {
			a.log.Error("open channel key", "channel", ch.ID, "err", err)
			continue
		}
		id, err := a.adaptors[req.platform].submit(ctx, a.cfg.HTTP, up, t, req.out)
		if err == nil {
			a.noteAuth(ctx, ch, true)
			return a.submitted(ctx, t, ch.ID, id)
		}
		ue := asUpstream(err)
		last = ue
		a.log.Info("upstream refused a submit", "channel", ch.ID, "task", t.TaskID, "status", ue.Status, "err", ue.Msg)
		if ue.Auth {
			a.noteAuth(ctx, ch, false)
		}
		if !ue.Retry {
			break
		}
	}
	if _, err := a.finish(ctx, t, StatusNotStart, state{Status: StatusFailure,
		FailReason: "submit failed: " + last.Error()}); err != nil {
		return store.AITask{}, err
	}
	status := last.Status
	if status < 400 {
		status = http.StatusInternalServerError
	}
	code := last.Code
	if last.Status == 0 {
		code = "do_request_failed"
	}
	return store.AITask{}, rerr(status, code, last.Msg)
}

// price reads what a task costs, through the cache.
func (a *API) price(ctx context.Context, tenant int64, platform, action, model string) (store.AIPrice, error) {
	k, now := priceKey{tenant, platform, action, model}, time.Now()
	if p, ok := a.prices.Get(k, now); ok {
		return p, nil
	}
	seq := a.prices.Begin()
	p, err := a.st.GetAIPrice(ctx, tenant, platform, action, model)
	if err == nil {
		a.prices.Add(k, tenant, seq, p, now)
	}
	return p, err
}

var (
	errUserQuota = rerr(http.StatusForbidden, "insufficient_user_quota", "user quota is not enough")
	errKeyQuota  = rerr(http.StatusForbidden, "insufficient_token_quota", "the API key's quota is used up")
)

// checkQuota refuses a submit past its key's limit before anything is written or sent upstream. The
// user's own quota is checked by the charge itself: a charge the funds do not cover rolls the task
// back (submit), which spares every submit a read of the account.
func (a *API) checkQuota(_ context.Context, c caller, price int64) error {
	if c.key.QuotaLimit >= 0 && c.key.QuotaUsed+price > c.key.QuotaLimit {
		return errKeyQuota
	}
	return nil
}

func asUpstream(err error) *upstreamError {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue
	}
	return &upstreamError{Code: "do_request_failed", Msg: err.Error(), Retry: true}
}

// submitted records the upstream's id: the task moves from NOT_START to SUBMITTED and is polled.
func (a *API) submitted(ctx context.Context, t store.AITask, channelID int64, upstreamID string) (store.AITask, error) {
	now := a.now()
	status, next, start := StatusSubmitted, now.Add(a.cfg.PollInterval), now.Unix()
	won, err := a.starts.Do(ctx, store.AITaskStart{ID: t.ID, UpstreamID: upstreamID, ChannelID: channelID,
		StartTime: start, NextPollAt: next})
	if err != nil {
		return store.AITask{}, fmt.Errorf("record the start of task %s: %w", t.TaskID, err)
	}
	if !won {
		return store.AITask{}, rerr(http.StatusInternalServerError, "task_failed", "the task was ended before its submit completed")
	}
	t.Status, t.UpstreamID, t.ChannelID, t.StartTime = status, upstreamID, channelID, start
	return t, nil
}

// pick orders the enabled channels of the platform that serve the model: highest priority first,
// and within one priority by a weighted draw.
func (a *API) pick(ctx context.Context, tenant int64, platform, model string) ([]store.AIChannel, error) {
	k, now := channelKey{tenant, platform}, time.Now()
	all, ok := a.channels.Get(k, now)
	if !ok {
		seq := a.channels.Begin()
		var err error
		if all, err = a.st.ListAIChannels(ctx, tenant, platform); err != nil {
			return nil, err
		}
		a.channels.Add(k, tenant, seq, all, now)
	}
	cs := slices.DeleteFunc(slices.Clone(all), func(c store.AIChannel) bool {
		return !c.Enabled || (len(c.Models) > 0 && !slices.Contains(c.Models, model))
	})
	// A weighted random order: each channel draws a key u^(1/w); the largest keys come first.
	keys := make(map[int64]float64, len(cs))
	for _, c := range cs {
		keys[c.ID] = weightedKey(max(c.Weight, 1))
	}
	slices.SortFunc(cs, func(x, y store.AIChannel) int {
		return cmp.Or(cmp.Compare(y.Priority, x.Priority), cmp.Compare(keys[y.ID], keys[x.ID]))
	})
	return cs, nil
}

func weightedKey(w int) float64 {
	u := rand.Float64()
	// u^(1/w) grows with w: a channel of weight 2 comes first twice as often as one of weight 1.
	return pow(u, 1/float64(w))
}

// open unseals the channel's key.
func (a *API) open(c store.AIChannel) (upstream, error) {
	key, err := a.openKey(c)
	return upstream{AIChannel: c, key: key}, err
}

// noteAuth counts a channel's 401/403 answers; enough in a row disable it, with the reason kept.
func (a *API) noteAuth(ctx context.Context, c store.AIChannel, ok bool) {
	if ok && c.AuthFailures == 0 {
		return
	}
	disabled, err := a.st.NoteAIChannelAuth(ctx, c.ID, ok, a.cfg.DisableAfter,
		fmt.Sprintf("disabled automatically after %d authentication failures in a row", a.cfg.DisableAfter), a.now())
	if err != nil {
		a.log.Warn("note channel auth", "channel", c.ID, "err", err)
	}
	if disabled {
		a.channels.Drop(c.TenantID)
		a.log.Warn("channel disabled after authentication failures", "channel", c.ID)
	}
}

// finish moves task t from status from into a final status, guarded: only the writer that still
// finds from wins, and only the winner refunds (a FAILURE), gives the key its quota back and queues
// the notify_hook callback, all in the one transaction. It reports whether it won.
func (a *API) finish(ctx context.Context, t store.AITask, from string, s state) (bool, error) {
	now := a.now()
	p := store.AITaskPatch{Status: &s.Status, Active: ptr(false), PollJob: ptr(int64(0))}
	if s.FailReason != "" || s.Status == StatusFailure {
		p.FailReason = &s.FailReason
	}
	progress := s.Progress
	if s.Status == StatusSuccess {
		progress = "100%"
	}
	if progress != "" {
		p.Progress = &progress
	}
	finish := s.Finish
	if finish == 0 {
		finish = now.Unix()
	}
	p.FinishTime = &finish
	if s.Start != 0 {
		p.StartTime = &s.Start
	}
	if len(s.Data) > 0 && json.Valid(s.Data) {
		p.Data = s.Data
	}
	refund := s.Status == StatusFailure
	if refund {
		p.Refunded = ptr(true)
	}
	var won bool
	err := a.eng.WithTx(ctx, func(tx engine.Tx) error {
		var err error
		if won, err = tx.AITasks().UpdateAITask(ctx, t.ID, from, p, now); err != nil || !won {
			return err
		}
		if refund {
			if _, _, err := tx.Refund(ctx, chargeKey(t.TaskID)); err != nil {
				return err
			}
			if t.KeyID != 0 {
				if _, err := tx.AITasks().UseAIKeyQuota(ctx, t.KeyID, -t.Quota); err != nil {
					return err
				}
			}
		}
		if s.Status == StatusSuccess && a.cfg.MirrorResults {
			if _, err := tx.Submit(ctx, a.mirrorJob(t)); err != nil {
				return fmt.Errorf("queue the mirror of task %s: %w", t.TaskID, err)
			}
		}
		if t.NotifyHook != "" {
			if _, err := tx.Submit(ctx, a.notifyJob(t)); err != nil {
				return fmt.Errorf("queue the callback of task %s: %w", t.TaskID, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("finish ai task %s: %w", t.TaskID, err)
	}
	return won, nil
}

func ptr[T any](v T) *T { return &v }

func pow(x, y float64) float64 { return math.Pow(x, y) }
