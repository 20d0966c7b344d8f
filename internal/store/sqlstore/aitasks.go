package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"taskcenter/internal/store"
)

// The AI task center's tables (migration 00030). Booleans are kept as 0/1 integers, which both
// drivers scan the same way.

func b2i(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

const aiUserCols = "id, tenant_id, account_id, username, role, created_at"

func scanAIUser(r Row) (store.AIUser, error) {
	var u store.AIUser
	var at int64
	if err := r.Scan(&u.ID, &u.TenantID, &u.AccountID, &u.Username, &u.Role, &at); err != nil {
		return u, notFound(err)
	}
	u.CreatedAt = Time(at)
	return u, nil
}

func (b *Base) CreateAIUser(ctx context.Context, u store.AIUser) (store.AIUser, error) {
	out, err := scanAIUser(b.w.QueryRow(ctx, `INSERT INTO ai_users (tenant_id, account_id, username, role, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+aiUserCols, u.TenantID, u.AccountID, u.Username, u.Role, MS(u.CreatedAt)))
	return out, wrap(b.conflict(err), "create ai user %q", u.Username)
}

func (b *Base) GetAIUser(ctx context.Context, id int64) (store.AIUser, error) {
	u, err := scanAIUser(b.r.QueryRow(ctx, `SELECT `+aiUserCols+` FROM ai_users WHERE id = $1`, id))
	return u, wrap(err, "get ai user %d", id)
}

func (b *Base) GetAIUserByAccount(ctx context.Context, accountID int64) (store.AIUser, error) {
	u, err := scanAIUser(b.r.QueryRow(ctx, `SELECT `+aiUserCols+` FROM ai_users WHERE account_id = $1`, accountID))
	return u, wrap(err, "get ai user of account %d", accountID)
}

func (b *Base) GetAIUserByName(ctx context.Context, tenantID int64, username string) (store.AIUser, error) {
	u, err := scanAIUser(b.r.QueryRow(ctx, `SELECT `+aiUserCols+` FROM ai_users WHERE tenant_id = $1 AND username = $2`,
		tenantID, username))
	return u, wrap(err, "get ai user %q", username)
}

func (b *Base) ListAIUsers(ctx context.Context, tenantID int64) ([]store.AIUser, error) {
	us, err := all(scanAIUser)(b.r.Query(ctx, `SELECT `+aiUserCols+` FROM ai_users WHERE tenant_id = $1 ORDER BY id`, tenantID))
	return us, wrap(err, "list ai users")
}

const aiKeyCols = "id, user_id, name, key_hash, key_tail, quota_limit, quota_used, enabled, expires_at, created_at"

func scanAIKey(r Row) (store.AIKey, error) {
	var k store.AIKey
	var enabled, expires, at int64
	if err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.Hash, &k.Tail, &k.QuotaLimit, &k.QuotaUsed, &enabled, &expires, &at); err != nil {
		return k, notFound(err)
	}
	k.Enabled, k.CreatedAt = enabled != 0, Time(at)
	if expires != 0 {
		t := Time(expires)
		k.ExpiresAt = &t
	}
	return k, nil
}

func msOrZero(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return MS(*t)
}

func (b *Base) CreateAIKey(ctx context.Context, k store.AIKey) (store.AIKey, error) {
	out, err := scanAIKey(b.w.QueryRow(ctx, `INSERT INTO ai_keys (user_id, name, key_hash, key_tail, quota_limit, quota_used,
		enabled, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+aiKeyCols,
		k.UserID, k.Name, k.Hash, k.Tail, k.QuotaLimit, k.QuotaUsed, b2i(k.Enabled), msOrZero(k.ExpiresAt), MS(k.CreatedAt)))
	return out, wrap(b.conflict(err), "create ai key")
}

func (b *Base) GetAIKeyByHash(ctx context.Context, hash string) (store.AIKey, error) {
	k, err := scanAIKey(b.r.QueryRow(ctx, `SELECT `+aiKeyCols+` FROM ai_keys WHERE key_hash = $1`, hash))
	return k, wrap(err, "get ai key")
}

func (b *Base) ListAIKeys(ctx context.Context, userID int64) ([]store.AIKey, error) {
	ks, err := all(scanAIKey)(b.r.Query(ctx, `SELECT `+aiKeyCols+` FROM ai_keys WHERE user_id = $1 ORDER BY id`, userID))
	return ks, wrap(err, "list ai keys")
}

func (b *Base) UpdateAIKey(ctx context.Context, k store.AIKey) error {
	n, err := b.w.Exec(ctx, `UPDATE ai_keys SET name = $2, quota_limit = $3, enabled = $4, expires_at = $5 WHERE id = $1`,
		k.ID, k.Name, k.QuotaLimit, b2i(k.Enabled), msOrZero(k.ExpiresAt))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "update ai key %d", k.ID)
}

func (b *Base) UseAIKeyQuota(ctx context.Context, keyID, delta int64) (bool, error) {
	n, err := b.w.Exec(ctx, `UPDATE ai_keys SET quota_used = quota_used + $2
		WHERE id = $1 AND ($2 <= 0 OR quota_limit < 0 OR quota_used + $2 <= quota_limit)`, keyID, delta)
	return n == 1, wrap(err, "use quota of ai key %d", keyID)
}

const aiChannelCols = `id, tenant_id, platform, name, base_url, key_sealed, models, weight, priority, enabled,
	auth_failures, status_reason, deleted, created_at, updated_at`

func scanAIChannel(r Row) (store.AIChannel, error) {
	var c store.AIChannel
	var models string
	var enabled, deleted, created, updated int64
	if err := r.Scan(&c.ID, &c.TenantID, &c.Platform, &c.Name, &c.BaseURL, &c.KeySealed, &models, &c.Weight, &c.Priority,
		&enabled, &c.AuthFailures, &c.StatusReason, &deleted, &created, &updated); err != nil {
		return c, notFound(err)
	}
	if models != "" {
		c.Models = strings.Split(models, ",")
	}
	c.Enabled, c.Deleted, c.CreatedAt, c.UpdatedAt = enabled != 0, deleted != 0, Time(created), Time(updated)
	return c, nil
}

func (b *Base) CreateAIChannel(ctx context.Context, c store.AIChannel) (store.AIChannel, error) {
	out, err := scanAIChannel(b.w.QueryRow(ctx, `INSERT INTO ai_channels (tenant_id, platform, name, base_url, key_sealed,
		models, weight, priority, enabled, auth_failures, status_reason, deleted, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, '', 0, $10, $10) RETURNING `+aiChannelCols,
		c.TenantID, c.Platform, c.Name, c.BaseURL, c.KeySealed, strings.Join(c.Models, ","), c.Weight, c.Priority,
		b2i(c.Enabled), MS(c.CreatedAt)))
	return out, wrap(b.conflict(err), "create ai channel %q", c.Name)
}

func (b *Base) GetAIChannel(ctx context.Context, id int64) (store.AIChannel, error) {
	c, err := scanAIChannel(b.r.QueryRow(ctx, `SELECT `+aiChannelCols+` FROM ai_channels WHERE id = $1 AND deleted = 0`, id))
	return c, wrap(err, "get ai channel %d", id)
}

func (b *Base) ListAIChannels(ctx context.Context, tenantID int64, platform string) ([]store.AIChannel, error) {
	var a Args
	q := `SELECT ` + aiChannelCols + ` FROM ai_channels WHERE deleted = 0 AND tenant_id = ` + a.Add(tenantID)
	if platform != "" {
		q += ` AND platform = ` + a.Add(platform)
	}
	cs, err := all(scanAIChannel)(b.r.Query(ctx, q+` ORDER BY id`, a.Vals...))
	return cs, wrap(err, "list ai channels")
}

func (b *Base) UpdateAIChannel(ctx context.Context, c store.AIChannel, now time.Time) error {
	n, err := b.w.Exec(ctx, `UPDATE ai_channels SET name = $2, base_url = $3, key_sealed = $4, models = $5, weight = $6,
		priority = $7, enabled = $8, auth_failures = $9, status_reason = $10, deleted = $11, updated_at = $12
		WHERE id = $1 AND deleted = 0`, c.ID, c.Name, c.BaseURL, c.KeySealed, strings.Join(c.Models, ","), c.Weight,
		c.Priority, b2i(c.Enabled), c.AuthFailures, c.StatusReason, b2i(c.Deleted), MS(now))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "update ai channel %d", c.ID)
}

func (b *Base) NoteAIChannelAuth(ctx context.Context, id int64, ok bool, disableAfter int, reason string, now time.Time) (bool, error) {
	if ok {
		_, err := b.w.Exec(ctx, `UPDATE ai_channels SET auth_failures = 0 WHERE id = $1 AND auth_failures <> 0`, id)
		return false, wrap(err, "clear auth failures of ai channel %d", id)
	}
	var disabled bool
	err := b.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `UPDATE ai_channels SET auth_failures = auth_failures + 1, updated_at = $2 WHERE id = $1`,
			id, MS(now)); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE ai_channels SET enabled = 0, status_reason = $3, updated_at = $4
			WHERE id = $1 AND enabled = 1 AND auth_failures >= $2`, id, disableAfter, reason, MS(now))
		disabled = n == 1
		return err
	})
	return disabled, wrap(err, "note auth failure of ai channel %d", id)
}

func (b *Base) SetAIPrice(ctx context.Context, p store.AIPrice) error {
	_, err := b.w.Exec(ctx, `INSERT INTO ai_prices (tenant_id, platform, action, model, quota) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, platform, action, model) DO UPDATE SET quota = excluded.quota`,
		p.TenantID, p.Platform, p.Action, p.Model, p.Quota)
	return wrap(err, "set ai price")
}

func scanAIPrice(r Row) (store.AIPrice, error) {
	var p store.AIPrice
	err := r.Scan(&p.TenantID, &p.Platform, &p.Action, &p.Model, &p.Quota)
	return p, notFound(err)
}

func (b *Base) GetAIPrice(ctx context.Context, tenantID int64, platform, action, model string) (store.AIPrice, error) {
	// The model's own price sorts before the action's price for any model ("").
	p, err := scanAIPrice(b.r.QueryRow(ctx, `SELECT tenant_id, platform, action, model, quota FROM ai_prices
		WHERE tenant_id = $1 AND platform = $2 AND action = $3 AND (model = $4 OR model = '') ORDER BY model DESC LIMIT 1`,
		tenantID, platform, action, model))
	return p, wrap(err, "get ai price of %s %s %s", platform, action, model)
}

func (b *Base) ListAIPrices(ctx context.Context, tenantID int64) ([]store.AIPrice, error) {
	ps, err := all(scanAIPrice)(b.r.Query(ctx, `SELECT tenant_id, platform, action, model, quota FROM ai_prices
		WHERE tenant_id = $1 ORDER BY platform, action, model`, tenantID))
	return ps, wrap(err, "list ai prices")
}

const aiTaskCols = `id, tenant_id, user_id, key_id, channel_id, task_id, upstream_id, platform, action, model, status,
	fail_reason, progress, quota, refunded, submit_time, start_time, finish_time, properties, data, notify_hook, active,
	next_poll_at, poll_job, poll_failures, deadline, created_at, updated_at`

type aiTaskScanner struct{ username bool }

func (s aiTaskScanner) scan(r Row) (store.AITask, error) {
	var t store.AITask
	var props, data string
	var refunded, active, next, deadline, created, updated int64
	dest := []any{&t.ID, &t.TenantID, &t.UserID, &t.KeyID, &t.ChannelID, &t.TaskID, &t.UpstreamID, &t.Platform, &t.Action,
		&t.Model, &t.Status, &t.FailReason, &t.Progress, &t.Quota, &refunded, &t.SubmitTime, &t.StartTime, &t.FinishTime,
		&props, &data, &t.NotifyHook, &active, &next, &t.PollJob, &t.PollFailures, &deadline, &created, &updated}
	var username sql.NullString
	if s.username {
		dest = append(dest, &username)
	}
	if err := r.Scan(dest...); err != nil {
		return t, notFound(err)
	}
	t.Properties, t.Data = []byte(props), []byte(data)
	t.Refunded, t.Active = refunded != 0, active != 0
	t.NextPollAt, t.Deadline, t.CreatedAt, t.UpdatedAt = Time(next), Time(deadline), Time(created), Time(updated)
	t.Username = username.String
	return t, nil
}

var scanAITask = aiTaskScanner{}.scan

func jsonText(m []byte, def string) string {
	if len(m) == 0 {
		return def
	}
	return string(m)
}

func (b *Base) CreateAITask(ctx context.Context, t store.AITask) (store.AITask, error) {
	out, err := scanAITask(b.w.QueryRow(ctx, `INSERT INTO ai_tasks (tenant_id, user_id, key_id, channel_id, task_id,
		upstream_id, platform, action, model, status, fail_reason, progress, quota, refunded, submit_time, start_time,
		finish_time, properties, data, notify_hook, active, next_poll_at, poll_job, poll_failures, deadline, created_at,
		updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
		$22, $23, $24, $25, $26, $26) RETURNING `+aiTaskCols,
		t.TenantID, t.UserID, t.KeyID, t.ChannelID, t.TaskID, t.UpstreamID, t.Platform, t.Action, t.Model, t.Status,
		t.FailReason, t.Progress, t.Quota, b2i(t.Refunded), t.SubmitTime, t.StartTime, t.FinishTime,
		jsonText(t.Properties, "{}"), jsonText(t.Data, "{}"), t.NotifyHook, b2i(t.Active), MSOrNil0(t.NextPollAt),
		t.PollJob, t.PollFailures, MSOrNil0(t.Deadline), MS(t.CreatedAt)))
	return out, wrap(b.conflict(err), "create ai task %q", t.TaskID)
}

var aiTaskBatchCols = []BatchCol{{"tenant_id", Int}, {"user_id", Int}, {"key_id", Int}, {"channel_id", Int},
	{"task_id", Text}, {"upstream_id", Text}, {"platform", Text}, {"action", Text}, {"model", Text}, {"status", Text},
	{"fail_reason", Text}, {"progress", Text}, {"quota", Int}, {"refunded", Int}, {"submit_time", Int},
	{"start_time", Int}, {"finish_time", Int}, {"properties", Text}, {"data", Text}, {"notify_hook", Text},
	{"active", Int}, {"next_poll_at", Int}, {"poll_job", Int}, {"poll_failures", Int}, {"deadline", Int},
	{"created_at", Int}}

// CreateAITasks inserts the tasks in one statement; the rows come back matched by public id, which
// is unique, so their order in RETURNING does not matter.
func (b *Base) CreateAITasks(ctx context.Context, ts []store.AITask) ([]store.AITask, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	var a Args
	src := b.D.Batch(&a, "s", aiTaskBatchCols, len(ts), func(r, c int) any {
		t := ts[r]
		return [...]any{t.TenantID, t.UserID, t.KeyID, t.ChannelID, t.TaskID, t.UpstreamID, t.Platform, t.Action,
			t.Model, t.Status, t.FailReason, t.Progress, t.Quota, b2i(t.Refunded), t.SubmitTime, t.StartTime,
			t.FinishTime, jsonText(t.Properties, "{}"), jsonText(t.Data, "{}"), t.NotifyHook, b2i(t.Active),
			MSOrNil0(t.NextPollAt), t.PollJob, int64(t.PollFailures), MSOrNil0(t.Deadline), MS(t.CreatedAt)}[c]
	})
	got, err := all(scanAITask)(b.w.Query(ctx, `INSERT INTO ai_tasks (tenant_id, user_id, key_id, channel_id, task_id,
		upstream_id, platform, action, model, status, fail_reason, progress, quota, refunded, submit_time, start_time,
		finish_time, properties, data, notify_hook, active, next_poll_at, poll_job, poll_failures, deadline, created_at,
		updated_at) SELECT s.tenant_id, s.user_id, s.key_id, s.channel_id, s.task_id, s.upstream_id, s.platform,
		s.action, s.model, s.status, s.fail_reason, s.progress, s.quota, s.refunded, s.submit_time, s.start_time,
		s.finish_time, s.properties, s.data, s.notify_hook, s.active, s.next_poll_at, s.poll_job, s.poll_failures,
		s.deadline, s.created_at, s.created_at FROM `+src+` ORDER BY s.ord RETURNING `+aiTaskCols, a.Vals...))
	if err != nil {
		return nil, wrap(b.conflict(err), "create %d ai tasks", len(ts))
	}
	byID := make(map[string]store.AITask, len(got))
	for _, t := range got {
		byID[t.TaskID] = t
	}
	out := make([]store.AITask, len(ts))
	for i, t := range ts {
		var ok bool
		if out[i], ok = byID[t.TaskID]; !ok {
			return nil, fmt.Errorf("create ai tasks: task %q was not returned", t.TaskID)
		}
	}
	return out, nil
}

// StartAITasks updates the tasks by key, each column a CASE over the ids (a join with a row source
// would let either planner scan the table), guarded by their status; RETURNING tells which moved.
func (b *Base) StartAITasks(ctx context.Context, from, to string, ss []store.AITaskStart, now time.Time) ([]bool, error) {
	switch len(ss) {
	case 0:
		return nil, nil
	case 1: // a statement of fixed text, which both drivers keep prepared
		s := ss[0]
		n, err := b.w.Exec(ctx, `UPDATE ai_tasks SET status = $1, upstream_id = $2, channel_id = $3, start_time = $4,
			next_poll_at = $5, updated_at = $6 WHERE id = $7 AND status = $8`,
			to, s.UpstreamID, s.ChannelID, s.StartTime, MS(s.NextPollAt), MS(now), s.ID, from)
		return []bool{n == 1}, wrap(err, "start ai task %d", s.ID)
	}
	var a Args
	ids := make([]int64, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	column := func(name, typ string, val func(store.AITaskStart) any) string {
		var sb strings.Builder
		sb.WriteString(name + " = CASE id")
		for _, s := range ss {
			sb.WriteString(" WHEN " + a.Add(s.ID) + " THEN CAST(" + a.Add(val(s)) + " AS " + typ + ")")
		}
		sb.WriteString(" END")
		return sb.String()
	}
	set := strings.Join([]string{
		"status = " + a.Add(to),
		column("upstream_id", "TEXT", func(s store.AITaskStart) any { return s.UpstreamID }),
		column("channel_id", "BIGINT", func(s store.AITaskStart) any { return s.ChannelID }),
		column("start_time", "BIGINT", func(s store.AITaskStart) any { return s.StartTime }),
		column("next_poll_at", "BIGINT", func(s store.AITaskStart) any { return MS(s.NextPollAt) }),
		"updated_at = " + a.Add(MS(now)),
	}, ", ")
	rows, err := b.w.Query(ctx, `UPDATE ai_tasks SET `+set+` WHERE `+b.D.InInt64s(&a, "id", ids, false)+
		` AND status = `+a.Add(from)+` RETURNING id`, a.Vals...)
	moved, err := all(func(r Row) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})(rows, err)
	if err != nil {
		return nil, wrap(err, "start %d ai tasks", len(ss))
	}
	out := make([]bool, len(ss))
	for i, s := range ss {
		out[i] = slices.Contains(moved, s.ID)
	}
	return out, nil
}

// MSOrNil0 is MS with the zero time as 0.
func MSOrNil0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return MS(t)
}

func (b *Base) GetAITask(ctx context.Context, id int64) (store.AITask, error) {
	t, err := scanAITask(b.r.QueryRow(ctx, `SELECT `+aiTaskCols+` FROM ai_tasks WHERE id = $1`, id))
	return t, wrap(err, "get ai task %d", id)
}

func (b *Base) GetAITaskByPublicID(ctx context.Context, tenantID, userID int64, taskID string) (store.AITask, error) {
	ts, err := b.GetAITasksByPublicIDs(ctx, tenantID, userID, []string{taskID})
	if err == nil && len(ts) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.AITask{}, wrap(err, "get ai task %q", taskID)
	}
	return ts[0], nil
}

func (b *Base) GetAITasksByPublicIDs(ctx context.Context, tenantID, userID int64, taskIDs []string) ([]store.AITask, error) {
	if len(taskIDs) == 0 {
		return nil, nil
	}
	var a Args
	q := `SELECT ` + aiTaskCols + ` FROM ai_tasks WHERE tenant_id = ` + a.Add(tenantID) + ` AND ` +
		b.D.InStrings(&a, "task_id", taskIDs)
	if userID != 0 {
		q += ` AND user_id = ` + a.Add(userID)
	}
	ts, err := all(scanAITask)(b.r.Query(ctx, q+` ORDER BY id DESC`, a.Vals...))
	return ts, wrap(err, "get ai tasks")
}

func (b *Base) GetAITasksByIDs(ctx context.Context, ids []int64) ([]store.AITask, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var a Args
	ts, err := all(scanAITask)(b.r.Query(ctx, `SELECT `+aiTaskCols+` FROM ai_tasks WHERE `+
		b.D.InInt64s(&a, "id", ids, false)+` ORDER BY id`, a.Vals...))
	return ts, wrap(err, "get ai tasks by id")
}

func (b *Base) ListAITasks(ctx context.Context, f store.AITaskFilter) ([]store.AITask, int, error) {
	if f.TenantID == 0 && !f.AllTenants {
		return nil, 0, fmt.Errorf("list ai tasks: %w: a tenant is required", store.ErrInvalid)
	}
	var a Args
	var w []string
	switch {
	case f.AllTenants && f.UserID != 0:
		w = append(w, "t.user_id = "+a.Add(f.UserID))
	case f.AllTenants:
	case f.UserID == 0:
		w = append(w, "t.tenant_id = "+a.Add(f.TenantID))
	default:
		// A user's list reads the user's index, newest first, and stops after a page; "+ 0" keeps
		// the tenant check out of the planner's choice of index, where a (tenant_id, id) range
		// intersected with the user's would sort every row of a big tenant.
		w = append(w, "t.tenant_id + 0 = "+a.Add(f.TenantID), "t.user_id = "+a.Add(f.UserID))
	}
	if f.ChannelID != 0 {
		w = append(w, "t.channel_id = "+a.Add(f.ChannelID))
	}
	for _, c := range []struct{ col, v string }{{"t.platform", f.Platform}, {"t.task_id", f.TaskID},
		{"t.status", f.Status}, {"t.action", f.Action}} {
		if c.v != "" {
			w = append(w, c.col+" = "+a.Add(c.v))
		}
	}
	if f.SubmitFrom != 0 {
		w = append(w, "t.submit_time >= "+a.Add(f.SubmitFrom))
	}
	if f.SubmitTo != 0 {
		w = append(w, "t.submit_time <= "+a.Add(f.SubmitTo))
	}
	where := ""
	if len(w) > 0 {
		where = " WHERE " + strings.Join(w, " AND ")
	}
	total := -1
	if !f.NoTotal {
		if err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM ai_tasks t`+where, a.Vals...).Scan(&total); err != nil {
			return nil, 0, wrap(err, "count ai tasks")
		}
	}
	cols, from := qualify("t", aiTaskCols), " FROM ai_tasks t"
	if f.WithUsername {
		cols += ", u.username"
		from += " LEFT JOIN ai_users u ON u.id = t.user_id"
	}
	ts, err := all(aiTaskScanner{username: f.WithUsername}.scan)(b.r.Query(ctx, `SELECT `+cols+from+where+
		` ORDER BY t.id DESC`+limitOffset(&a, f.Limit, f.Offset), a.Vals...))
	return ts, total, wrap(err, "list ai tasks")
}

func (b *Base) UpdateAITask(ctx context.Context, id int64, from string, p store.AITaskPatch, now time.Time) (bool, error) {
	var a Args
	set := []string{"updated_at = " + a.Add(MS(now))}
	add := func(col string, v any) { set = append(set, col+" = "+a.Add(v)) }
	if p.Status != nil {
		add("status", *p.Status)
	}
	if p.FailReason != nil {
		add("fail_reason", *p.FailReason)
	}
	if p.Progress != nil {
		add("progress", *p.Progress)
	}
	if p.UpstreamID != nil {
		add("upstream_id", *p.UpstreamID)
	}
	if p.ChannelID != nil {
		add("channel_id", *p.ChannelID)
	}
	if p.SubmitTime != nil {
		add("submit_time", *p.SubmitTime)
	}
	if p.StartTime != nil {
		add("start_time", *p.StartTime)
	}
	if p.FinishTime != nil {
		add("finish_time", *p.FinishTime)
	}
	if p.Data != nil {
		add("data", string(p.Data))
	}
	if p.Refunded != nil {
		add("refunded", b2i(*p.Refunded))
	}
	if p.Active != nil {
		add("active", b2i(*p.Active))
	}
	if p.NextPollAt != nil {
		add("next_poll_at", MS(*p.NextPollAt))
	}
	if p.PollJob != nil {
		add("poll_job", *p.PollJob)
	}
	if p.PollFailures != nil {
		add("poll_failures", *p.PollFailures)
	}
	n, err := b.w.Exec(ctx, `UPDATE ai_tasks SET `+strings.Join(set, ", ")+` WHERE id = `+a.Add(id)+
		` AND status = `+a.Add(from), a.Vals...)
	return n == 1, wrap(err, "update ai task %d", id)
}

func (b *Base) DueAITasks(ctx context.Context, statuses []string, now time.Time, limit int) ([]store.AITask, error) {
	var a Args
	ts, err := all(scanAITask)(b.r.Query(ctx, `SELECT `+aiTaskCols+` FROM ai_tasks WHERE active = 1 AND next_poll_at <= `+
		a.Add(MS(now))+` AND poll_job = 0 AND `+b.D.InStrings(&a, "status", statuses)+
		` ORDER BY next_poll_at, id`+limitOffset(&a, limit, 0), a.Vals...))
	return ts, wrap(err, "list due ai tasks")
}

func (b *Base) ClaimAITasks(ctx context.Context, ids []int64, jobID int64) error {
	if len(ids) == 0 {
		return nil
	}
	var a Args
	n, err := b.w.Exec(ctx, `UPDATE ai_tasks SET poll_job = `+a.Add(jobID)+` WHERE poll_job = 0 AND active = 1 AND `+
		b.D.InInt64s(&a, "id", ids, false), a.Vals...)
	if err != nil {
		return wrap(err, "claim ai tasks")
	}
	if n != int64(len(ids)) {
		return fmt.Errorf("claim ai tasks: %d of %d free: %w", n, len(ids), store.ErrConflict)
	}
	return nil
}

func (b *Base) ReleaseAITasks(ctx context.Context, jobID int64, next time.Time) (int, error) {
	n, err := b.w.Exec(ctx, `UPDATE ai_tasks SET poll_job = 0, next_poll_at = $2 WHERE poll_job = $1`, jobID, MS(next))
	return int(n), wrap(err, "release ai tasks of poll job %d", jobID)
}

func (b *Base) OverdueAITasks(ctx context.Context, now, stuckBefore time.Time, limit int) ([]store.AITask, error) {
	// Two index ranges (ai_tasks_deadline, ai_tasks_not_started), their literals matching the partial
	// indexes' conditions, merged here: a UNION would read every unfinished task.
	var a Args
	late, err := all(scanAITask)(b.r.Query(ctx, `SELECT `+aiTaskCols+` FROM ai_tasks WHERE active = 1 AND deadline <> 0
		AND deadline <= `+a.Add(MS(now))+` ORDER BY deadline`+limitOffset(&a, limit, 0), a.Vals...))
	if err != nil {
		return nil, wrap(err, "list ai tasks past their deadline")
	}
	var a2 Args
	stuck, err := all(scanAITask)(b.r.Query(ctx, `SELECT `+aiTaskCols+` FROM ai_tasks WHERE status = 'NOT_START'
		AND created_at <= `+a2.Add(MS(stuckBefore))+` AND active = 1 ORDER BY created_at`+limitOffset(&a2, limit, 0), a2.Vals...))
	if err != nil {
		return nil, wrap(err, "list ai tasks stuck before their submit")
	}
	seen := make(map[int64]bool, len(late))
	out := late
	for _, t := range late {
		seen[t.ID] = true
	}
	for _, t := range stuck {
		if !seen[t.ID] {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(x, y store.AITask) int { return cmp.Compare(x.ID, y.ID) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (b *Base) StaleAIPollJobs(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	var a Args
	ids, err := all(scanInt64)(b.r.Query(ctx, `SELECT DISTINCT poll_job FROM ai_tasks WHERE poll_job <> 0 AND active = 1
		AND next_poll_at < `+a.Add(MS(before))+` ORDER BY poll_job`+limitOffset(&a, limit, 0), a.Vals...))
	return ids, wrap(err, "list stale ai poll jobs")
}
