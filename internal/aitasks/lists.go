package aitasks

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Paging of the lists (the ruling): p from 1, page_size (or ps, size) 20 by default, at most 100.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// listPage is the data of a list answer; items is never null.
type listPage[T any] struct {
	Items    []T `json:"items"`
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
}

// queryInt reads an integer query parameter the way new-api does: absent or malformed is def.
func queryInt(r *http.Request, def int64, names ...string) int64 {
	for _, n := range names {
		if v := strings.TrimSpace(r.URL.Query().Get(n)); v != "" {
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				return i
			}
			return def
		}
	}
	return def
}

func paging(r *http.Request) (page, size int) {
	page = int(min(max(queryInt(r, 1, "p"), 1), 1<<30))
	size = int(queryInt(r, defaultPageSize, "page_size", "ps", "size"))
	if size <= 0 {
		size = defaultPageSize
	}
	return page, min(size, maxPageSize)
}

// userFor authenticates a list call, answering 401 or 403 itself; ok false means answered.
func (a *API) userFor(w http.ResponseWriter, r *http.Request, admin bool) (store.AIUser, bool) {
	u, err := a.userOf(r.Context(), r)
	if errors.Is(err, errUnauthorized) {
		listFail(w, http.StatusUnauthorized, "无权进行此操作，未登录且未提供 access token")
		return u, false
	}
	if err != nil {
		a.log.Error("authenticate task list", "err", err)
		listFail(w, http.StatusInternalServerError, "获取任务列表失败")
		return u, false
	}
	if admin && u.Role != store.AIRoleAdmin {
		listFail(w, http.StatusForbidden, "无权进行此操作，权限不足")
		return u, false
	}
	return u, true
}

func (a *API) listSelf(w http.ResponseWriter, r *http.Request)   { a.list(w, r, false) }
func (a *API) listAll(w http.ResponseWriter, r *http.Request)    { a.list(w, r, true) }
func (a *API) ledgerSelf(w http.ResponseWriter, r *http.Request) { a.ledger(w, r, false) }
func (a *API) ledgerAll(w http.ResponseWriter, r *http.Request)  { a.ledger(w, r, true) }

func (a *API) list(w http.ResponseWriter, r *http.Request, admin bool) {
	u, ok := a.userFor(w, r, admin)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, size := paging(r)
	f := store.AITaskFilter{TenantID: u.TenantID, UserID: u.ID, Platform: q.Get("platform"), TaskID: q.Get("task_id"),
		Status: q.Get("status"), Action: q.Get("action"), SubmitFrom: queryInt(r, 0, "start_timestamp"),
		SubmitTo: queryInt(r, 0, "end_timestamp"), Limit: size, Offset: (page - 1) * size}
	if admin {
		f.UserID, f.ChannelID, f.WithUsername = 0, queryInt(r, 0, "channel_id"), true
		if uid := queryInt(r, 0, "user_id"); uid != 0 {
			f.UserID = uid
		}
	}
	for _, s := range []string{f.Platform, f.TaskID, f.Status, f.Action} {
		if !facade.ValidText(s) || len(s) > 200 {
			listFail(w, http.StatusBadRequest, "获取任务列表失败: invalid filter")
			return
		}
	}
	// The total of a filter is counted now and then, not on every page (totals.go).
	countKey := fmt.Sprintf("%+v", store.AITaskFilter{TenantID: f.TenantID, UserID: f.UserID, ChannelID: f.ChannelID,
		Platform: f.Platform, TaskID: f.TaskID, Status: f.Status, Action: f.Action, SubmitFrom: f.SubmitFrom, SubmitTo: f.SubmitTo})
	start := time.Now()
	cached, known, count := a.totals.get(countKey, start)
	f.NoTotal = !count
	ts, total, err := a.st.ListAITasks(r.Context(), f)
	if err != nil {
		if count && known {
			a.totals.abandon(countKey)
		}
		a.log.Error("list ai tasks", "err", err)
		listFail(w, http.StatusInternalServerError, "获取任务列表失败")
		return
	}
	if count {
		a.totals.put(countKey, total, start, time.Since(start))
	} else {
		total = cached
	}
	items := make([]taskItem, len(ts))
	for i, t := range ts {
		items[i] = itemOf(t, admin)
	}
	facade.JSON(w, http.StatusOK, listAnswer{Success: true, Data: listPage[taskItem]{Items: items, Total: total, Page: page, PageSize: size}})
}

// ledgerLine is one change of a user's quota (an extension of the API: GET /api/task/self/ledger).
type ledgerLine struct {
	ID        int64  `json:"id"`
	CreatedAt int64  `json:"created_at"`
	UserID    int64  `json:"user_id"`
	Kind      string `json:"kind"`
	// Quota is the change of the user's quota: negative for a charge, positive for a refund or top-up.
	Quota  int64  `json:"quota"`
	Unpaid int64  `json:"unpaid"`
	TaskID string `json:"task_id"`
	Note   string `json:"note"`
}

// ledger lists the caller's quota changes, newest first; an admin passes user_id to audit a user.
func (a *API) ledger(w http.ResponseWriter, r *http.Request, admin bool) {
	u, ok := a.userFor(w, r, admin)
	if !ok {
		return
	}
	if admin {
		uid := queryInt(r, 0, "user_id")
		target, err := a.st.GetAIUser(r.Context(), uid)
		if err != nil || target.TenantID != u.TenantID {
			listFail(w, http.StatusNotFound, "user not found")
			return
		}
		u = target
	}
	page, size := paging(r)
	lines, total, err := a.st.ListLedger(r.Context(), store.LedgerFilter{AccountID: u.AccountID, Limit: size, Offset: (page - 1) * size})
	if err != nil {
		a.log.Error("list ai ledger", "err", err)
		listFail(w, http.StatusInternalServerError, "获取额度记录失败")
		return
	}
	items := make([]ledgerLine, len(lines))
	for i, l := range lines {
		paid := l.CouponMilli + l.BalanceMilli + l.CreditMilli
		items[i] = ledgerLine{ID: l.ID, CreatedAt: l.CreatedAt.Unix(), UserID: u.ID, Kind: string(l.Kind), Quota: -paid,
			Unpaid: l.UnpaidMilli, TaskID: taskOfRef(l.Ref), Note: l.Note}
	}
	facade.JSON(w, http.StatusOK, listAnswer{Success: true, Data: listPage[ledgerLine]{Items: items, Total: total, Page: page, PageSize: size}})
}

// chargeKey is the ledger reference of a task's charge; its refund is "refund:" + that.
func chargeKey(taskID string) string { return "aitask:" + taskID }

func taskOfRef(ref string) string {
	ref = strings.TrimPrefix(ref, "refund:")
	if t, ok := strings.CutPrefix(ref, "aitask:"); ok {
		return t
	}
	return ""
}
