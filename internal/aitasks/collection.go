package aitasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// ConsoleDialect names the AI task center in the console's configuration (console.Config.Dialects):
// its page shows on a server that speaks it.
const ConsoleDialect = "aitasks"

// Collections offers the console's AI tasks page the facade's own things as native collections:
// aitasks.tasks, aitasks.channels (never a channel's key) and aitasks.users (never a token or an API
// key). The native API's account is read as the AI task center's tenancy: a tenant's account sees
// its users, channels and tasks; a user's own account sees that user's tasks and itself, and no
// channel (as /api/task/self shows channel_id 0); a server admin's view without account_id
// (accountID 0) goes over every tenant.
func (a *API) Collections() []native.Collection {
	return []native.Collection{taskCollection{a}, channelCollection{a}, userCollection{a}}
}

// scope is whose things a collection lists.
type scope struct {
	all    bool          // every tenant's (a server admin's view)
	tenant int64         // else this tenant's
	user   *store.AIUser // and, when set, only this user's
}

// scopeOf reads the native API's account as the AI task center's tenancy.
func (a *API) scopeOf(ctx context.Context, accountID int64) (scope, error) {
	if accountID == 0 {
		return scope{all: true}, nil
	}
	u, err := a.st.GetAIUserByAccount(ctx, accountID)
	switch {
	case err == nil:
		return scope{tenant: u.TenantID, user: &u}, nil
	case errors.Is(err, store.ErrNotFound):
		return scope{tenant: accountID}, nil
	}
	return scope{}, fmt.Errorf("the ai user of account %d: %w", accountID, err)
}

// tenants lists the tenants of the scope.
func (a *API) tenants(ctx context.Context, sc scope) ([]int64, error) {
	if !sc.all {
		return []int64{sc.tenant}, nil
	}
	ts, err := a.st.ListAITenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("list ai tenants: %w", err)
	}
	return ts, nil
}

// checkFilter refuses a filter the collection does not take.
func checkFilter(name string, f map[string]string, takes ...string) error {
	for k := range f {
		if !slices.Contains(takes, k) {
			return fmt.Errorf("%w: %s filters by %s, not %q", store.ErrInvalid, name, strings.Join(takes, ", "), k)
		}
	}
	return nil
}

// idFilter reads a positive id filter (0 when absent).
func idFilter(f map[string]string, k string) (int64, error) {
	v, ok := f[k]
	if !ok {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %s must be a positive integer", store.ErrInvalid, k)
	}
	return id, nil
}

// encodeAll marshals the views.
func encodeAll(name string, views []map[string]any) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(views))
	for i, v := range views {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s item: %w", name, err)
		}
		out[i] = b
	}
	return out, nil
}

// pageOf cuts a page out of a list read whole (users and channels: a tenant has few).
func pageOf[T any](xs []T, limit, offset int) []T {
	if offset >= len(xs) {
		return nil
	}
	xs = xs[offset:]
	if limit > 0 && limit < len(xs) {
		xs = xs[:limit]
	}
	return xs
}

// unixTime renders wire seconds as a time (empty when unset).
func unixTime(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

// taskCollection is aitasks.tasks: the tasks newest first, filtered and paged in SQL.
type taskCollection struct{ a *API }

func (taskCollection) CollectionName() string { return "aitasks.tasks" }

// taskFilters are the filters aitasks.tasks takes.
var taskFilters = []string{"status", "platform", "action", "user_id", "channel_id"}

// ListCollection pages the scope's tasks: status, platform, action, user_id and channel_id filter
// them; a search names a task's public id (task_...) or, in one tenant, a user name. The total is
// the lists' cached count of the filter (TotalsTTL, longer for a slow count).
func (c taskCollection) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	a := c.a
	if err := checkFilter(c.CollectionName(), q.Filter, taskFilters...); err != nil {
		return nil, 0, err
	}
	sc, err := a.scopeOf(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	f := store.AITaskFilter{TenantID: sc.tenant, AllTenants: sc.all, Status: q.Filter["status"], Platform: q.Filter["platform"],
		Action: q.Filter["action"], Limit: q.Limit, Offset: q.Offset, WithUsername: true}
	if f.UserID, err = idFilter(q.Filter, "user_id"); err != nil {
		return nil, 0, err
	}
	if f.ChannelID, err = idFilter(q.Filter, "channel_id"); err != nil {
		return nil, 0, err
	}
	if sc.user != nil {
		if f.ChannelID != 0 || (f.UserID != 0 && f.UserID != sc.user.ID) {
			return nil, 0, nil // a user sees no channel and no other user
		}
		f.UserID = sc.user.ID
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		switch {
		case strings.HasPrefix(s, "task_") || sc.all:
			f.TaskID = s
		default:
			u, err := a.st.GetAIUserByName(ctx, sc.tenant, s)
			if errors.Is(err, store.ErrNotFound) || (err == nil && f.UserID != 0 && f.UserID != u.ID) {
				return nil, 0, nil
			}
			if err != nil {
				return nil, 0, fmt.Errorf("search ai tasks: %w", err)
			}
			f.UserID = u.ID
		}
	}
	// The total of a filter is counted now and then, not for every page, as for the task lists
	// (totals.go); the same filter's total is shared with them.
	countKey := fmt.Sprintf("%+v", store.AITaskFilter{TenantID: f.TenantID, UserID: f.UserID, ChannelID: f.ChannelID,
		Platform: f.Platform, TaskID: f.TaskID, Status: f.Status, Action: f.Action, AllTenants: f.AllTenants})
	start := time.Now()
	cached, known, count := a.totals.get(countKey, start)
	f.NoTotal = !count
	ts, total, err := a.st.ListAITasks(ctx, f)
	if err != nil {
		if count && known {
			a.totals.abandon(countKey)
		}
		return nil, 0, fmt.Errorf("list ai tasks: %w", err)
	}
	if count {
		a.totals.put(countKey, total, start, time.Since(start))
	} else {
		total = max(cached, f.Offset+len(ts)) // a reused total is never less than what is shown
	}
	users, channels := map[int64]int64{}, map[int64]string{}
	views := make([]map[string]any, len(ts))
	for i, t := range ts {
		acct, ok := users[t.UserID]
		if !ok {
			if u, err := a.st.GetAIUser(ctx, t.UserID); err == nil {
				acct = u.AccountID
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, 0, fmt.Errorf("the user of ai task %s: %w", t.TaskID, err)
			}
			users[t.UserID] = acct
		}
		v := map[string]any{"id": t.ID, "task_id": t.TaskID, "tenant_id": t.TenantID, "account_id": acct,
			"user_id": t.UserID, "username": t.Username, "platform": t.Platform, "action": t.Action, "model": t.Model,
			"status": t.Status, "progress": t.Progress, "quota": t.Quota, "refunded": t.Refunded, "fail_reason": t.FailReason,
			"submit_time": unixTime(t.SubmitTime), "start_time": unixTime(t.StartTime), "finish_time": unixTime(t.FinishTime),
			"channel_id": int64(0), "channel": ""}
		if sc.user == nil && t.ChannelID != 0 {
			name, ok := channels[t.ChannelID]
			if !ok {
				ch, err := a.st.GetAIChannel(ctx, t.ChannelID)
				switch {
				case err == nil:
					name = ch.Name
				case errors.Is(err, store.ErrNotFound):
					name = "(deleted)"
				default:
					return nil, 0, fmt.Errorf("the channel of ai task %s: %w", t.TaskID, err)
				}
				channels[t.ChannelID] = name
			}
			v["channel_id"], v["channel"] = t.ChannelID, name
		}
		views[i] = v
	}
	out, err := encodeAll(c.CollectionName(), views)
	return out, total, err
}

// channelCollection is aitasks.channels: the upstream providers, never their keys.
type channelCollection struct{ a *API }

func (channelCollection) CollectionName() string { return "aitasks.channels" }

// ListCollection lists the scope's channels by id (none to a user), filtered by platform and
// searched by name or base URL: what picks them (priority, weight, models), whether they are
// enabled and, when one was disabled (by an administrator, or after answering 401/403 too often),
// why.
func (c channelCollection) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	a := c.a
	if err := checkFilter(c.CollectionName(), q.Filter, "platform"); err != nil {
		return nil, 0, err
	}
	sc, err := a.scopeOf(ctx, accountID)
	if err != nil || sc.user != nil {
		return nil, 0, err
	}
	tenants, err := a.tenants(ctx, sc)
	if err != nil {
		return nil, 0, err
	}
	search := strings.ToLower(strings.TrimSpace(q.Search))
	var views []map[string]any
	for _, tenant := range tenants {
		cs, err := a.st.ListAIChannels(ctx, tenant, q.Filter["platform"])
		if err != nil {
			return nil, 0, fmt.Errorf("list ai channels of %d: %w", tenant, err)
		}
		for _, ch := range cs {
			if search != "" && !strings.Contains(strings.ToLower(ch.Name), search) && !strings.Contains(strings.ToLower(ch.BaseURL), search) {
				continue
			}
			models := ch.Models
			if models == nil {
				models = []string{}
			}
			views = append(views, map[string]any{"id": ch.ID, "tenant_id": ch.TenantID, "account_id": ch.TenantID, "name": ch.Name,
				"platform": ch.Platform, "base_url": ch.BaseURL, "models": models, "priority": ch.Priority, "weight": ch.Weight,
				"enabled": ch.Enabled, "auth_failures": ch.AuthFailures, "status_reason": ch.StatusReason,
				"created_at": ch.CreatedAt.UTC().Format(time.RFC3339), "updated_at": ch.UpdatedAt.UTC().Format(time.RFC3339)})
		}
	}
	out, err := encodeAll(c.CollectionName(), pageOf(views, q.Limit, q.Offset))
	return out, len(views), err
}

// userCollection is aitasks.users: the users with their quota, never a token or a key.
type userCollection struct{ a *API }

func (userCollection) CollectionName() string { return "aitasks.users" }

// ListCollection lists the scope's users by id (a user: itself), filtered by role and searched by
// name: the quota left on the user's account (whose ledger is GET /api/v1/accounts/{account_id}/ledger),
// the quota its keys have used (refunds given back), and how many keys it has and how many are enabled.
func (c userCollection) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	a := c.a
	if err := checkFilter(c.CollectionName(), q.Filter, "role"); err != nil {
		return nil, 0, err
	}
	sc, err := a.scopeOf(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	var us []store.AIUser
	if sc.user != nil {
		us = []store.AIUser{*sc.user}
	} else {
		tenants, err := a.tenants(ctx, sc)
		if err != nil {
			return nil, 0, err
		}
		for _, tenant := range tenants {
			got, err := a.st.ListAIUsers(ctx, tenant)
			if err != nil {
				return nil, 0, fmt.Errorf("list ai users of %d: %w", tenant, err)
			}
			us = append(us, got...)
		}
	}
	search, role := strings.ToLower(strings.TrimSpace(q.Search)), q.Filter["role"]
	us = slices.DeleteFunc(us, func(u store.AIUser) bool {
		return (search != "" && !strings.Contains(strings.ToLower(u.Username), search)) || (role != "" && u.Role != role)
	})
	page := pageOf(us, q.Limit, q.Offset)
	views := make([]map[string]any, len(page))
	for i, u := range page {
		left, err := a.Quota(ctx, u)
		if err != nil {
			return nil, 0, fmt.Errorf("the quota of ai user %d: %w", u.ID, err)
		}
		keys, err := a.st.ListAIKeys(ctx, u.ID)
		if err != nil {
			return nil, 0, fmt.Errorf("the keys of ai user %d: %w", u.ID, err)
		}
		var used int64
		enabled := 0
		for _, k := range keys {
			used += k.QuotaUsed
			if k.Enabled {
				enabled++
			}
		}
		views[i] = map[string]any{"id": u.ID, "tenant_id": u.TenantID, "account_id": u.AccountID, "username": u.Username,
			"role": u.Role, "quota": left, "used_quota": used, "keys": len(keys), "keys_enabled": enabled,
			"created_at": u.CreatedAt.UTC().Format(time.RFC3339)}
	}
	out, err := encodeAll(c.CollectionName(), views)
	return out, len(us), err
}
