package rpa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/rpa/lucene"
	"taskcenter/internal/store"
)

const (
	maxQueueName  = 100
	maxQueueItems = 1_000_000
	maxItemKeys   = 100
	maxKeyLen     = 100
	maxValueLen   = 4000
	maxResultLen  = 4000
	// popLease is how long a popped item stays the popper's when the queue has no timeOut: a
	// process that pops an item does not heartbeat, so the engine's short agent lease would hand
	// the item out again while it is being worked on.
	popLease = 24 * time.Hour
)

type queueDoc struct {
	JobID         int64  `json:"jobId"`
	QueueName     string `json:"queueName"`
	QueueMaxItems int64  `json:"queueMaxItems"`
	FailTryTimes  int64  `json:"failTryTimes"`
	TimeOut       int64  `json:"timeOut"` // minutes a popped item may stay running; 0: none
	QueueDesc     string `json:"queueDesc"`
	RobotNo       string `json:"robotNo"`
	OrgCode       string `json:"orgCode"`
}

// itemSpec is a queue item's unit spec.
// A queue is listed within the caller's department and matched by name as written.
func (d queueDoc) RecordScope() string { return d.OrgCode }
func (d queueDoc) RecordName() string  { return d.QueueName }

type itemSpec struct {
	Keys []itemKey `json:"keys,omitempty"`
}

type itemKey struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// itemResult is what a status update records on the unit.
type itemResult struct {
	Result string `json:"result,omitempty"`
	By     string `json:"by,omitempty"`
}

var priorityValues = map[string]int{"high": 2, "normal": 1, "low": 0}

// priorityRange is the range of unit priorities priorityName names name (high, normal or low).
func priorityRange(name string) (lo, hi *int) {
	switch name {
	case "high":
		return new(2), nil
	case "normal":
		return new(1), new(1)
	}
	return nil, new(0)
}

func priorityName(p int) string {
	switch {
	case p >= 2:
		return "high"
	case p == 1:
		return "normal"
	}
	return "low"
}

// itemStatus maps a unit's status to the document's item statuses.
func itemStatus(u store.Unit) string {
	switch u.Status {
	case store.UnitRunning:
		return "running"
	case store.UnitDone:
		return "success"
	case store.UnitFailed, store.UnitTimedOut, store.UnitCancelled:
		return "failed"
	}
	if u.Attempts > 0 {
		return "retry"
	}
	return "pending"
}

// queueByParams finds the queue a request names by queueId or queueName, within the caller's scope.
func (a *API) queueByParams(ctx context.Context, c *call) (rec[queueDoc], error) {
	var q rec[queueDoc]
	id, err := c.p.Int("queueId", false, 1, 1<<62, 0)
	if err != nil {
		return q, err
	}
	name, err := c.p.Text("queueName", id == 0, maxQueueName)
	if err != nil {
		if id == 0 && c.p.Has("queueId") {
			return q, fail(CodeParamMissing, "queueId or queueName is required")
		}
		return q, err
	}
	q, err = a.queueRec(ctx, c.caller.accountID, id, name)
	if err == nil && id != 0 && name != "" && q.Doc.QueueName != name {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), q.Doc.OrgCode)) {
		return q, fail(CodeNotFound, "queue %s", firstNonEmpty(name, idString(id)))
	}
	return q, err
}

// queueRec reads a queue record by id, or by name when id is 0, through the queue cache. A queue
// record is written once, at creation, and then only deleted: a delete here drops the account's
// cached queues at once, and one on another replica is seen within cacheTTL. The caller's scope is
// checked by queueByParams on every request, cached or not.
func (a *API) queueRec(ctx context.Context, account, id int64, name string) (rec[queueDoc], error) {
	k := queueKey{account: account, id: id}
	if id == 0 {
		k.name = name
	}
	now := a.now()
	if q, ok := a.queues.Get(k, now); ok {
		return q, nil
	}
	seq := a.queues.Begin()
	var q rec[queueDoc]
	var err error
	if id != 0 {
		q, err = facade.GetDoc[queueDoc](ctx, a.st, account, recQueue, id)
	} else {
		q, err = facade.GetDocByKey[queueDoc](ctx, a.st, account, recQueue, name)
	}
	if err != nil {
		return q, err
	}
	a.queues.Add(k, account, seq, q, now)
	return q, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// queueList serves GET /oapi/v1/queue.
func (a *API) queueList(ctx context.Context, c *call) (any, error) {
	name, err := c.p.Text("queueName", false, maxQueueName)
	if err != nil {
		return nil, err
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	f := scopeFilter(c.caller.accountID, recQueue, c.caller.org())
	f.NameContains, f.Offset, f.Limit = name, off, lim
	qs, total, err := facade.ListDocsPage[queueDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, q := range qs {
		alias := any("动态分配") // "dynamically assigned": no robot bound
		if q.Doc.RobotNo != "" {
			alias = q.Doc.RobotNo
		}
		o := orgs[q.Doc.OrgCode]
		items = append(items, map[string]any{
			"id": q.ID, "queueName": q.Doc.QueueName, "queueMaxItems": q.Doc.QueueMaxItems, "orgCode": q.Doc.OrgCode,
			"queueDesc": q.Doc.QueueDesc, "failTryTimes": q.Doc.FailTryTimes, "createTime": ms(q.CreatedAt),
			"modifyTime": ms(q.UpdatedAt), "agentAlias": alias, "agentNo": nilIfEmpty(q.Doc.RobotNo),
			"robotNo": q.Doc.RobotNo, "orgName": nilIfEmpty(o.Doc.CurName), "orgId": nilIfZero(o.ID),
			"timeOut": q.Doc.TimeOut,
		})
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}

func nilIfZero(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

// queueCreate serves POST /oapi/v1/queue: a record for the name and an open engine job for the
// items.
func (a *API) queueCreate(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permQueue); err != nil {
		return nil, err
	}
	var d queueDoc
	var err error
	if d.QueueName, err = c.p.Text("queueName", true, maxQueueName); err != nil {
		return nil, err
	}
	if d.QueueMaxItems, err = c.p.Int("queueMaxItems", true, 0, maxQueueItems, 0); err != nil {
		return nil, err
	}
	if d.FailTryTimes, err = c.p.Int("failTryTimes", true, 0, 99, 0); err != nil {
		return nil, err
	}
	if d.TimeOut, err = c.p.Int("timeOut", false, 0, 10080, 0); err != nil {
		return nil, err
	}
	if d.QueueDesc, err = c.p.Text("queueDesc", false, maxDesc); err != nil {
		return nil, err
	}
	if d.RobotNo, err = c.p.FirstText(false, 1000, "robotsNo", "robotNo"); err != nil {
		return nil, err
	}
	d.OrgCode = c.caller.org()
	if code, err := c.p.Text("orgCode", false, 200); err != nil {
		return nil, err
	} else if code != "" {
		o, err := a.resolveOrg(ctx, c.caller, code)
		if err != nil {
			return nil, err
		}
		d.OrgCode = o.Doc.OrgCode
	}
	if _, err := a.st.GetRecordByKey(ctx, c.caller.accountID, recQueue, d.QueueName); err == nil {
		return nil, fail(CodeExists, "queue %s", d.QueueName)
	}
	job, err := a.eng.Submit(ctx, engine.JobSpec{
		AccountID: c.caller.accountID, Kind: KindQueue, Name: d.QueueName, Project: "rpa.queue",
		// failTryTimes counts retries; the engine counts attempts including the first.
		MaxAttempts: int(d.FailTryTimes) + 1,
		UnitTimeout: engine.Duration(time.Duration(d.TimeOut) * time.Minute),
	})
	if err != nil {
		return nil, fmt.Errorf("create queue job: %w", err)
	}
	d.JobID = job.ID
	r, err := a.put(ctx, store.Record{AccountID: c.caller.accountID, Kind: recQueue, Key: d.QueueName}, d)
	if err != nil {
		_ = a.eng.Purge(ctx, job.ID) // a racing create took the name: drop our job
		if errors.Is(err, store.ErrConflict) {
			return nil, fail(CodeExists, "queue %s", d.QueueName)
		}
		return nil, err
	}
	return map[string]any{"id": r.ID}, nil
}

// queueDelete serves DELETE /oapi/v1/queue: the items are cancelled with the job.
func (a *API) queueDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permQueue); err != nil {
		return nil, err
	}
	q, err := a.queueByParams(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := a.eng.Delete(ctx, q.Doc.JobID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("delete queue job: %w", err)
	}
	err = a.st.DeleteRecord(ctx, q.ID)
	a.queues.Drop(q.AccountID)
	return nil, err
}

// queueClear serves PUT /oapi/v1/queue/clear: every item goes, whatever its state.
func (a *API) queueClear(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permQueue); err != nil {
		return nil, err
	}
	q, err := a.queueByParams(ctx, c)
	if err != nil {
		return nil, err
	}
	n, err := a.eng.DeleteUnits(ctx, q.Doc.JobID, nil)
	if err != nil {
		return nil, fmt.Errorf("clear queue: %w", err)
	}
	return map[string]any{"deleted": n}, nil
}

// queueForItems finds the queue for an item call; robots running a job may use the queues of their
// process's department.
func (a *API) queueForItems(ctx context.Context, c *call) (rec[queueDoc], error) {
	if c.caller.job == nil {
		if err := c.caller.require(permQueue); err != nil && c.r.Method != "GET" {
			return rec[queueDoc]{}, err
		}
	}
	return a.queueByParams(ctx, c)
}

// itemAdd serves POST /oapi/v1/queue/item.
func (a *API) itemAdd(ctx context.Context, c *call) (any, error) {
	q, err := a.queueForItems(ctx, c)
	if err != nil {
		return nil, err
	}
	pname, err := c.p.Text("priority", true, 20)
	if err != nil {
		return nil, err
	}
	prio, ok := priorityValues[strings.ToLower(pname)]
	if !ok {
		return nil, fail(CodeParamInvalid, "priority must be high, normal or low, not %q", pname)
	}
	// The document marks deadline required (是), and its example sends one.
	s, err := c.p.Text("deadline", true, 40)
	if err != nil {
		return nil, err
	}
	t, err := a.parseTime(s)
	if err != nil {
		return nil, fail(CodeParamInvalid, "deadline: %v", err)
	}
	deadline := &t
	keys, err := readKeys(c.p)
	if err != nil {
		return nil, err
	}
	if q.Doc.QueueMaxItems > 0 {
		_, n, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: q.Doc.JobID, Limit: 1,
			Statuses: []store.UnitStatus{store.UnitQueued, store.UnitRunning, store.UnitPaused, store.UnitBlocked}})
		if err != nil {
			return nil, fmt.Errorf("count queue items: %w", err)
		}
		if int64(n) >= q.Doc.QueueMaxItems {
			return nil, fail(CodeQueueFull, "queue %s holds %d items", q.Doc.QueueName, n)
		}
	}
	spec, _ := json.Marshal(itemSpec{Keys: keys})
	itemNo := newToken()
	units, err := a.eng.AddUnits(ctx, q.Doc.JobID, []engine.UnitSpec{{
		Name: itemNo, Capability: CapabilityQueue, Priority: prio, Deadline: deadline, Spec: spec,
	}})
	if err != nil {
		return nil, fmt.Errorf("add queue item: %w", err)
	}
	return a.itemView(q, units[0], nil), nil
}

// readKeys reads the item's custom key/value pairs: a JSON array, or a string holding one.
func readKeys(p params) ([]itemKey, error) {
	v, ok := p.Raw("keys")
	if !ok {
		return nil, nil
	}
	var b []byte
	switch t := v.(type) {
	case string:
		if strings.TrimSpace(t) == "" {
			return nil, nil
		}
		b = []byte(t)
	case []any:
		b, _ = json.Marshal(t)
	default:
		return nil, fail(CodeParamInvalid, `keys must be a list like [{"key":"k","value":"v"}]`)
	}
	var raw []map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fail(CodeParamInvalid, `keys must be a list like [{"key":"k","value":"v"}]`)
	}
	if len(raw) > maxItemKeys {
		return nil, fail(CodeParamInvalid, "at most %d keys", maxItemKeys)
	}
	out := make([]itemKey, 0, len(raw))
	for i, m := range raw {
		k, kok := m["key"].(string)
		if !kok || k == "" {
			return nil, fail(CodeParamInvalid, "keys[%d].key must be non-empty text", i)
		}
		var val string
		switch x := m["value"].(type) {
		case string:
			val = x
		case nil:
		case float64, bool:
			val = fmt.Sprint(x)
		default:
			return nil, fail(CodeParamInvalid, "keys[%d].value must be text", i)
		}
		if len([]rune(k)) > maxKeyLen || len([]rune(val)) > maxValueLen {
			return nil, fail(CodeParamTooLong, "keys[%d] is too long", i)
		}
		if !facade.ValidText(k) || !facade.ValidText(val) {
			return nil, fail(CodeParamInvalid, "keys[%d] is not valid text", i)
		}
		out = append(out, itemKey{Key: k, Value: val})
	}
	return out, nil
}

// itemView renders a unit as the document's queue item. id carries the lease epoch ("unit-epoch") so
// that a status update can be fenced against a later pop of the same item.
func (a *API) itemView(q rec[queueDoc], u store.Unit, workers map[int64]string) map[string]any {
	var spec itemSpec
	_ = json.Unmarshal(u.Spec, &spec)
	var res itemResult
	_ = json.Unmarshal(u.Result, &res)
	robot := workers[u.WorkerID]
	if res.By != "" && robot == "" {
		robot = res.By
	}
	m := map[string]any{
		"id": fmt.Sprintf("%d-%d", u.ID, u.Epoch), "queueName": q.Doc.QueueName, "robotNo": robot,
		"failTryTimes": q.Doc.FailTryTimes, "queueMaxItems": q.Doc.QueueMaxItems, "queueDesc": q.Doc.QueueDesc,
		"priority": priorityName(u.Priority), "deadline": a.datePtr(u.Deadline), "itemNo": u.Name,
		"runTimes": u.Attempts, "timestamp": a.date(u.CreatedAt), "status": itemStatus(u),
		"keys": spec.Keys, "result": nilIfEmpty(firstNonEmpty(res.Result, u.Error)),
	}
	if spec.Keys == nil {
		m["keys"] = []itemKey{}
	}
	return m
}

// itemDoc exposes an item's fields to the filter: the printed fields, and each custom key both by
// its own name and as keys.<name>.
func itemDoc(m map[string]any, keys []itemKey) lucene.Doc {
	return func(field string) []string {
		if field == "" {
			var all []string
			for k, v := range m {
				if k != "keys" && v != nil {
					all = append(all, fmt.Sprint(v))
				}
			}
			for _, k := range keys {
				all = append(all, k.Value)
			}
			return all
		}
		var out []string
		name := strings.TrimPrefix(field, "keys.")
		for _, k := range keys {
			if k.Key == name {
				out = append(out, k.Value)
			}
		}
		if v, ok := m[field]; ok && v != nil && field != "keys" {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
}

// itemList serves GET /oapi/v1/queue/item with the printed filters and a Lucene-style filter.
func (a *API) itemList(ctx context.Context, c *call) (any, error) {
	q, err := a.queueForItems(ctx, c)
	if err != nil {
		return nil, err
	}
	prio, err := c.p.Text("priority", false, 20)
	if err != nil {
		return nil, err
	}
	if prio != "" {
		if _, ok := priorityValues[strings.ToLower(prio)]; !ok {
			return nil, fail(CodeParamInvalid, "priority must be high, normal or low, not %q", prio)
		}
	}
	status, err := c.p.Text("status", false, 20)
	if err != nil {
		return nil, err
	}
	switch status {
	case "", "failed", "success", "running", "retry", "pending":
	default:
		return nil, fail(CodeParamInvalid, "status must be failed, success, running, retry or pending")
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		s, err := c.p.Text(f.name, false, 40)
		if err != nil {
			return nil, err
		}
		if s != "" {
			if *f.t, err = a.parseTime(s); err != nil {
				return nil, fail(CodeParamInvalid, "%s: %v", f.name, err)
			}
		}
	}
	filterText, err := c.p.Text("filter", false, lucene.MaxLength)
	if err != nil {
		return nil, err
	}
	filter, err := lucene.Parse(filterText)
	if err != nil {
		return nil, fail(CodeParamInvalid, "filter: %v", err)
	}
	// The document's table lists no paging for this route and its example answers every item
	// ("total":3 with three items): without page and size a client gets them all, up to
	// maxUnpagedItems; page and size still page (docs/compat/rpa.md).
	off, lim := 0, maxUnpagedItems
	if c.p.Has("page") || c.p.Has("size") {
		if off, lim, err = c.p.Paging("page", "size", 10, 1000); err != nil {
			return nil, err
		}
	}
	// Every filter but the Lucene one is in SQL.
	uf := store.UnitFilter{JobID: q.Doc.JobID, Statuses: itemStatuses(status)}
	switch status {
	case "pending":
		uf.Attempted = new(false)
	case "retry":
		uf.Attempted = new(true)
	}
	if prio != "" {
		uf.MinPriority, uf.MaxPriority = priorityRange(strings.ToLower(prio))
	}
	if !from.IsZero() {
		uf.CreatedFrom = &from
	}
	if !to.IsZero() {
		uf.CreatedTo = &to
	}
	workers := a.workerNames(ctx)
	page := Page[map[string]any]{Items: []map[string]any{}}
	if filterText == "" {
		// The database pages.
		uf.Limit, uf.Offset = lim, off
		units, total, err := a.st.ListUnits(ctx, uf)
		if err != nil {
			return nil, fmt.Errorf("list queue items: %w", err)
		}
		page.Total = total
		for _, u := range units {
			page.Items = append(page.Items, a.itemView(q, u, workers))
		}
		return page, nil
	}
	// The rest of the filters read what only the item's rendering has: the items are read in
	// chunks, so that a long queue is never in memory at once, and only the page is kept.
	uf.Limit = itemScanChunk
	for {
		units, _, err := a.st.ListUnits(ctx, uf)
		if err != nil {
			return nil, fmt.Errorf("list queue items: %w", err)
		}
		for _, u := range units {
			m := a.itemView(q, u, workers)
			if !filter.Match(itemDoc(m, m["keys"].([]itemKey))) {
				continue
			}
			if page.Total >= off && len(page.Items) < lim {
				page.Items = append(page.Items, m)
			}
			page.Total++
		}
		if len(units) < uf.Limit {
			return page, nil
		}
		uf.Offset += len(units)
	}
}

// maxUnpagedItems bounds an item list asked for without page and size; itemScanChunk is how many
// items a filtered list reads at a time.
const (
	maxUnpagedItems = 1000
	itemScanChunk   = 500
)

// itemStatuses are the unit statuses an item status may come from (nil: any); pending and retry are
// told apart by the unit's attempts.
func itemStatuses(status string) []store.UnitStatus {
	switch status {
	case "running":
		return []store.UnitStatus{store.UnitRunning}
	case "success":
		return []store.UnitStatus{store.UnitDone}
	case "failed":
		return []store.UnitStatus{store.UnitFailed, store.UnitTimedOut, store.UnitCancelled}
	case "pending", "retry":
		return []store.UnitStatus{store.UnitQueued, store.UnitPaused, store.UnitBlocked}
	}
	return nil
}

func (a *API) workerNames(ctx context.Context) map[int64]string {
	m := map[int64]string{}
	for _, kind := range []string{"robot", "studio"} {
		ws, err := a.st.ListWorkers(ctx, kind)
		if err != nil {
			a.log.Warn("list workers", "err", err)
			continue
		}
		for _, w := range ws {
			m[w.ID] = w.Name
		}
	}
	return m
}

// itemPop serves GET /oapi/v1/queue/item/pop: the engine leases the best ready item (highest
// priority, earliest deadline, oldest) to the caller and marks it running; no item goes to two
// callers. An empty queue answers code 0 with a null result.
func (a *API) itemPop(ctx context.Context, c *call) (any, error) {
	q, err := a.queueForItems(ctx, c)
	if err != nil {
		return nil, err
	}
	var workerID int64
	if c.caller.job != nil {
		workerID = c.caller.job.WorkerID
	}
	hold := popLease
	if q.Doc.TimeOut > 0 {
		hold = time.Duration(q.Doc.TimeOut)*time.Minute + time.Minute
	}
	u, err := a.items.pop(ctx, popKey{jobID: q.Doc.JobID, workerID: workerID, hold: hold})
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, nil
	}
	names := map[int64]string{}
	if c.caller.job != nil {
		names[workerID] = c.caller.job.Robot
	}
	return a.itemView(q, *u, names), nil
}

// findItem finds an item of the queue by itemNo.
func (a *API) findItem(ctx context.Context, q rec[queueDoc], itemNo string) (store.Unit, error) {
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: q.Doc.JobID, Search: itemNo})
	if err != nil {
		return store.Unit{}, fmt.Errorf("find queue item: %w", err)
	}
	for _, u := range units {
		if u.Name == itemNo {
			return u, nil
		}
	}
	return store.Unit{}, fail(CodeNotFound, "item %s", itemNo)
}

// itemUpdate serves PUT /oapi/v1/queue/item: success completes the item, failed fails it for good,
// retry fails the attempt (queued again while failTryTimes allow), pending puts it back with fresh
// attempts, running is accepted for an item that is running. An optional id from pop fences the
// update to that pop's lease.
func (a *API) itemUpdate(ctx context.Context, c *call) (any, error) {
	q, err := a.queueForItems(ctx, c)
	if err != nil {
		return nil, err
	}
	itemNo, err := c.p.Text("itemNo", true, 100)
	if err != nil {
		return nil, err
	}
	status, err := c.p.Text("status", true, 20)
	if err != nil {
		return nil, err
	}
	result, err := c.p.Text("result", false, maxResultLen)
	if err != nil {
		return nil, err
	}
	ref, err := c.p.Text("id", false, 60)
	if err != nil {
		return nil, err
	}
	var u store.Unit
	var epoch int64
	if ref != "" {
		// The pop's reference names the unit: a primary-key read instead of a search of the queue.
		uid, ep, ok := strings.Cut(ref, "-")
		n, err1 := strconv.ParseInt(uid, 10, 64)
		e, err2 := strconv.ParseInt(ep, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fail(CodeParamInvalid, "id %q is not this item's reference", ref)
		}
		u, err = a.st.GetUnit(ctx, n)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (u.JobID != q.Doc.JobID || u.Name != itemNo)) {
			return nil, fail(CodeParamInvalid, "id %q is not this item's reference", ref)
		}
		if err != nil {
			return nil, fmt.Errorf("find queue item: %w", err)
		}
		epoch = e
	} else {
		if u, err = a.findItem(ctx, q, itemNo); err != nil {
			return nil, err
		}
		epoch = u.Epoch
	}
	running := u.Status == store.UnitRunning
	by := c.caller.userName()
	switch status {
	case "success":
		if !running {
			return nil, fail(CodeStateConflict, "item %s is %s, not running", itemNo, itemStatus(u))
		}
		res, _ := json.Marshal(itemResult{Result: result, By: by})
		stale, err := a.items.complete.Do(ctx, engine.Completion{UnitID: u.ID, JobID: u.JobID, Epoch: epoch, Result: res})
		if err != nil {
			return nil, err
		}
		if stale != nil {
			return nil, fail(CodeStateConflict, "item %s was handed out again since", itemNo)
		}
	case "failed", "retry":
		if !running {
			return nil, fail(CodeStateConflict, "item %s is %s, not running", itemNo, itemStatus(u))
		}
		// Who failed it is kept with the item, as for a success: the failure takes the holder away.
		res, _ := json.Marshal(itemResult{Result: result, By: by})
		err := a.eng.Fail(ctx, engine.Failure{UnitID: u.ID, Epoch: epoch, Error: firstNonEmpty(result, status), Result: res, Permanent: status == "failed"})
		if errors.Is(err, store.ErrStale) {
			return nil, fail(CodeStateConflict, "item %s was handed out again since", itemNo)
		}
		if err != nil {
			return nil, err
		}
	case "pending":
		if _, err := a.eng.RestartUnits(ctx, q.Doc.JobID, []int64{u.ID}); err != nil {
			return nil, err
		}
	case "running":
		if !running {
			return nil, fail(CodeStateConflict, "items become running by pop")
		}
	default:
		return nil, fail(CodeParamInvalid, "status must be failed, success, running, retry or pending")
	}
	return nil, nil
}

// itemDelete serves DELETE /oapi/v1/queue/item {"queueName", "items":[{"itemNo"}]}.
func (a *API) itemDelete(ctx context.Context, c *call) (any, error) {
	q, err := a.queueForItems(ctx, c)
	if err != nil {
		return nil, err
	}
	v, ok := c.p.Raw("items")
	if !ok {
		return nil, fail(CodeParamMissing, "items is required")
	}
	var nos []string
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			switch x := e.(type) {
			case map[string]any:
				s, ok := x["itemNo"].(string)
				if !ok || s == "" {
					return nil, fail(CodeParamInvalid, "items[%d].itemNo must be text", i)
				}
				nos = append(nos, s)
			case string:
				nos = append(nos, x)
			default:
				return nil, fail(CodeParamInvalid, "items must list {\"itemNo\":...}")
			}
		}
	case string:
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				nos = append(nos, s)
			}
		}
	default:
		return nil, fail(CodeParamInvalid, "items must list {\"itemNo\":...}")
	}
	if len(nos) == 0 {
		return nil, fail(CodeParamMissing, "items is empty")
	}
	var ids []int64
	for _, no := range nos {
		u, err := a.findItem(ctx, q, no)
		if err != nil {
			return nil, err
		}
		ids = append(ids, u.ID)
	}
	n, err := a.eng.DeleteUnits(ctx, q.Doc.JobID, ids)
	if err != nil {
		return nil, fmt.Errorf("delete queue items: %w", err)
	}
	return map[string]any{"deleted": n}, nil
}
