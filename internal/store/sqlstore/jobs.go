package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"taskcenter/internal/store"
)

// unfinishedUnit is the SQL list of unit statuses that are not terminal.
const unfinishedUnit = `('blocked', 'queued', 'running', 'paused')`

// insertChunk bounds the rows of one bulk INSERT (and so the size of its parameters).
const insertChunk = 5000

var unitBatchCols = []BatchCol{
	{"idx", Int}, {"name", Text}, {"priority", Int}, {"capability", Text}, {"tag", Text}, {"run_after", Int},
	{"deadline", Int}, {"spec", Text},
}

// insertUnits bulk-inserts units of job j with status, in one statement per chunk, and returns their ids
// in input order. Priority is the unit's when non-zero, else the job's; RunAfter now when zero.
func (b *Base) insertUnits(ctx context.Context, q Querier, j store.Job, units []store.Unit, status store.UnitStatus, now time.Time) ([]int64, error) {
	ids := make([]int64, 0, len(units))
	for start := 0; start < len(units); start += insertChunk {
		chunk := units[start:min(start+insertChunk, len(units))]
		var a Args
		head := fmt.Sprintf(`INSERT INTO units (job_id, account_id, status, max_attempts, created_at, updated_at,
			idx, name, priority, capability, tag, run_after, deadline, spec)
			SELECT CAST(%s AS BIGINT), CAST(%s AS BIGINT), CAST(%s AS TEXT), CAST(%s AS BIGINT), CAST(%s AS BIGINT),
			CAST(%[5]s AS BIGINT), `, a.Add(j.ID), a.Add(j.AccountID), a.Add(string(status)), a.Add(int64(j.MaxAttempts)),
			a.Add(MS(now)))
		src := b.D.Batch(&a, "c", unitBatchCols, len(chunk), func(r, c int) any {
			u := &chunk[r]
			switch c {
			case 0:
				return int64(u.Index)
			case 1:
				return u.Name
			case 2:
				if u.Priority != 0 {
					return int64(u.Priority)
				}
				return int64(j.Priority)
			case 3:
				return u.Capability
			case 4:
				return unitTag(*u)
			case 5:
				if u.RunAfter.IsZero() {
					return MS(now)
				}
				return MS(u.RunAfter)
			case 6:
				return MSPtr(u.Deadline)
			default:
				return JSON(u.Spec)
			}
		})
		rows, err := q.Query(ctx, head+`c.idx, c.name, c.priority, c.capability, c.tag, c.run_after, c.deadline, c.spec
			FROM `+src+` ORDER BY c.ord RETURNING id`, a.Vals...)
		got, err := all(scanInt64)(rows, err)
		if err != nil {
			return nil, fmt.Errorf("insert units: %w", err)
		}
		// Rows get ids in the order they are inserted, which ORDER BY c.ord makes the input order;
		// RETURNING itself promises no order.
		slices.Sort(got)
		ids = append(ids, got...)
	}
	if err := insertUnitTags(ctx, q, units, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// unitTag is the tag column of a unit: its one tag, or the marker of a unit with several.
func unitTag(u store.Unit) string {
	tags := anyTags(u)
	switch {
	case len(tags) > 1:
		return store.AnyTagMarker
	case len(tags) == 1:
		return tags[0]
	}
	return u.Tag
}

// anyTags is the unit's distinct non-empty AnyTags.
func anyTags(u store.Unit) []string {
	var tags []string
	for _, t := range u.AnyTags {
		if t != "" && t != store.AnyTagMarker && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// insertUnitTags writes the tags of the units that carry several.
func insertUnitTags(ctx context.Context, q Querier, units []store.Unit, ids []int64) error {
	var a Args
	var rows []string
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		_, err := q.Exec(ctx, `INSERT INTO unit_tags (unit_id, tag) VALUES `+strings.Join(rows, ", "), a.Vals...)
		a, rows = Args{}, rows[:0]
		if err != nil {
			return fmt.Errorf("insert unit tags: %w", err)
		}
		return nil
	}
	for i, u := range units {
		tags := anyTags(u)
		if len(tags) < 2 {
			continue
		}
		for _, t := range tags {
			rows = append(rows, "("+a.Add(ids[i])+", "+a.Add(t)+")")
		}
		if len(rows) >= 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (b *Base) CreateJob(ctx context.Context, j store.Job, units []store.Unit, now time.Time) (store.Job, error) {
	var out store.Job
	err := b.tx(ctx, func(q Querier) error {
		status, unitStatus := store.JobQueued, store.UnitQueued
		if j.WaitFor != 0 {
			// Locked until the commit: a finish of the awaited job waits for this job to exist, so its
			// release of the waiters sees it (else a job created as it finishes would wait forever).
			var awaited string
			if err := q.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`+b.D.LockShared(), j.WaitFor).Scan(&awaited); err != nil {
				return fmt.Errorf("awaited job %d: %w", j.WaitFor, notFound(err))
			}
			if !store.JobStatus(awaited).Terminal() {
				status, unitStatus = store.JobWaiting, store.UnitBlocked
			}
		}
		if j.Status == store.JobPaused {
			status, unitStatus = store.JobPaused, store.UnitPaused
		}
		var err error
		out, err = scanJob(q.QueryRow(ctx, `INSERT INTO jobs (account_id, parent_id, wait_for, alias, kind, name, project,
			status, pause_reason, priority, max_concurrency, max_attempts, blocklist_after, unit_timeout, job_timeout,
			spec, result, cost_milli, deleted, created_at, updated_at, started_at, finished_at, pending_timeout, pending_deadline)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, NULL, NULL, $21, $22)
			RETURNING `+jobCols,
			j.AccountID, j.ParentID, j.WaitFor, j.Alias, j.Kind, j.Name, j.Project, string(status), j.PauseReason,
			j.Priority, j.MaxConcurrency, j.MaxAttempts, j.BlocklistAfter, Dur(j.UnitTimeout), Dur(j.JobTimeout),
			JSON(j.Spec), JSON(j.Result), j.CostMilli, false, MS(now), Dur(j.PendingTimeout), pendingDeadline(j, now)))
		if err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		_, err = b.insertUnits(ctx, q, out, units, unitStatus, now)
		return err
	})
	return out, wrap(err, "create job")
}

func (b *Base) GetJob(ctx context.Context, id int64) (store.Job, error) {
	j, err := scanJob(b.r.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	return j, wrap(err, "get job %d", id)
}

// GetJobByAlias returns the oldest job with the alias.
func (b *Base) GetJobByAlias(ctx context.Context, alias string) (store.Job, error) {
	j, err := scanJob(b.r.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE alias = $1 ORDER BY id LIMIT 1`, alias))
	return j, wrap(err, "get job %q", alias)
}

// likePattern is a LIKE pattern matching s anywhere, with LIKE's wildcards in s escaped (ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

// searchTrigram is the length (in characters) of the shortest search text the drivers' trigram
// indexes can look up.
const searchTrigram = 3

// limitOffset renders LIMIT/OFFSET; 0 means none. SQLite needs a LIMIT before an OFFSET.
//
// Both are written so that PostgreSQL plans a prepared page statement once rather than on every
// call, where planning cost more than running it. It keeps planning anew while the custom plans
// (made for the values bound) look cheaper than the generic one:
//   - The limit is written into the text, not bound: the generic plan guesses that a bound LIMIT
//     keeps a tenth of the rows. Each distinct limit is a statement of its own; the APIs bound page
//     sizes (at most 10,000), and clients use few of them. One that cycles through many only fills
//     the statement caches: SQLite's stops caching new texts when full, pgx's drops the least used.
//   - The offset is bound inside a scalar subquery, which the planner does not look into: a custom
//     plan for an offset past its estimate of the rows would expect an empty page, and look cheap.
func limitOffset(a *Args, limit, offset int) string {
	if limit <= 0 && offset <= 0 {
		return ""
	}
	page := " LIMIT 9223372036854775807"
	if limit > 0 {
		page = " LIMIT " + strconv.Itoa(limit)
	}
	if offset > 0 {
		page += " OFFSET (SELECT CAST(" + a.Add(int64(offset)) + " AS BIGINT))"
	}
	return page
}

// jobWhere renders f's conditions as a WHERE clause ("" for none), adding their values to a.
func (b *Base) jobWhere(a *Args, f store.JobFilter) string {
	var w []string
	switch {
	case len(f.AccountIDs) == 1:
		// An equality keeps the index's id order: a page needs no sort of every matching row. The
		// CAST keeps SQLite from planning with the bound value, which made it prepare the statement
		// again whenever the account changed: a fifth of a task list page's time in a profile.
		w = append(w, "account_id = CAST("+a.Add(f.AccountIDs[0])+" AS BIGINT)")
	case len(f.AccountIDs) > 1:
		w = append(w, b.D.InInt64s(a, "account_id", f.AccountIDs, false))
	}
	if f.Kind != "" {
		w = append(w, "kind = "+a.Add(f.Kind))
	}
	switch {
	case f.ParentID == -1:
		w = append(w, "parent_id = 0")
	case f.ParentID != 0:
		// "parent_id <> 0" lets the partial index jobs_parent serve the lookup.
		w = append(w, "parent_id <> 0 AND parent_id = "+a.Add(f.ParentID))
	}
	switch {
	case len(f.ParentIDs) == 1:
		w = append(w, "parent_id <> 0 AND parent_id = "+a.Add(f.ParentIDs[0]))
	case len(f.ParentIDs) > 1:
		w = append(w, "parent_id <> 0 AND "+b.D.InInt64s(a, "parent_id", f.ParentIDs, false))
	}
	switch {
	case len(f.Statuses) == 1:
		// An equality, as for one account: the index jobs_live_status then yields the jobs in id order,
		// and a deep page skips its entries (SQLite cannot see that an IN list holds one value).
		w = append(w, "status = "+a.Add(string(f.Statuses[0])))
	case len(f.Statuses) > 1:
		w = append(w, b.D.InStrings(a, "status", strs(f.Statuses)))
	}
	if len(f.PauseReasons) > 0 {
		w = append(w, b.D.InStrings(a, "pause_reason", f.PauseReasons))
	}
	if f.Search != "" {
		text, lower := strings.ToLower(f.Search), "LOWER(%s)"
		if utf8.RuneCountInString(text) < searchTrigram {
			// No trigram to look up, so a scan is the best plan; but PostgreSQL's generic plan for
			// the indexed expressions would walk its whole trigram index first (about twice the
			// scan's time). Other expressions of the same values keep both the plan and the
			// prepared statement apart.
			lower = "LOWER(%s || '')"
		} else if c := b.D.JobSearch(a, text); c != "" {
			w = append(w, c)
		}
		p := a.Add(likePattern(f.Search))
		var or []string
		for _, col := range []string{"name", "alias", "project"} {
			or = append(or, fmt.Sprintf(lower, col)+" LIKE "+p+` ESCAPE '\'`)
		}
		w = append(w, "("+strings.Join(or, " OR ")+")")
	}
	if f.Project != "" {
		w = append(w, "project = "+a.Add(f.Project))
	}
	if f.CreatedFrom != nil {
		w = append(w, "created_at >= "+a.Add(MS(*f.CreatedFrom)))
	}
	if f.CreatedTo != nil {
		w = append(w, "created_at <= "+a.Add(MS(*f.CreatedTo)))
	}
	if !f.WithDeleted {
		w = append(w, "NOT deleted")
	}
	if len(w) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w, " AND ")
}

// ListJobs reads a page of the jobs matching f, newest first, with their total. A page by key
// (f.BeforeID, f.AfterID) starts at an index entry instead of walking past the rows an offset
// skips.
func (b *Base) ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error) {
	var a Args
	where := b.jobWhere(&a, f)
	vals := slices.Clone(a.Vals) // the page's keys, limit and offset are appended to a
	keyed, order := f.BeforeID > 0 || f.AfterID > 0, "DESC"
	pageWhere := where
	if keyed {
		var keys []string
		if f.BeforeID > 0 {
			keys = append(keys, "id < "+a.Add(f.BeforeID))
		}
		if f.AfterID > 0 {
			// The oldest jobs newer than the key are the page just before it: read upwards.
			keys = append(keys, "id > "+a.Add(f.AfterID))
			order = "ASC"
		}
		if pageWhere == "" {
			pageWhere = " WHERE " + strings.Join(keys, " AND ")
		} else {
			pageWhere += " AND " + strings.Join(keys, " AND ")
		}
	}
	query := `SELECT ` + jobCols + ` FROM jobs` + pageWhere + ` ORDER BY id DESC`
	if page := limitOffset(&a, f.Limit, f.Offset); page != "" {
		// The page's ids first, then their rows: the rows skipped by the offset are walked in an
		// index (jobs_account_kind covers a one-account list) instead of being read whole.
		query = `SELECT ` + jobCols + ` FROM jobs WHERE id IN (SELECT id FROM jobs` + pageWhere + ` ORDER BY id ` + order +
			page + `) ORDER BY id DESC`
	}
	jobs, err := all(newJobScanner().scan)(b.r.Query(ctx, query, a.Vals...))
	if err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	// The count needs a query of its own only when the page may have cut the list short, or starts at
	// a key, whose position in the list is unknown.
	if short := f.Limit <= 0 || len(jobs) < f.Limit; !keyed && short && (len(jobs) > 0 || f.Offset <= 0) {
		return jobs, max(f.Offset, 0) + len(jobs), nil
	}
	total, err := b.countJobs(ctx, f, where, vals)
	return jobs, total, err
}

// countJobs counts the jobs matching f (rendered as where, with vals).
func (b *Base) countJobs(ctx context.Context, f store.JobFilter, where string, vals []any) (int, error) {
	var a Args
	if !talliedList(f) {
		a.Vals = vals
	}
	var total int
	if err := b.r.QueryRow(ctx, b.countQuery(&a, f, where), a.Vals...).Scan(&total); err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return total, nil
}

// countQuery renders the statement counting the jobs matching f, rendered as where (whose values a
// must hold unless talliedList(f)).
func (b *Base) countQuery(a *Args, f store.JobFilter, where string) string {
	if talliedList(f) {
		return b.D.JobTally(a, f.AccountIDs, f.Kind)
	}
	if f.CountUpTo > 0 {
		// The bound is written into the text, as a page's limit is (see limitOffset).
		return `SELECT COUNT(*) FROM (SELECT 1 FROM jobs` + where + ` LIMIT ` + strconv.Itoa(f.CountUpTo+1) + `) AS bounded`
	}
	return `SELECT COUNT(*) FROM jobs` + where
}

// talliedList reports whether f lists an account's live top-level jobs of one kind, whose total is
// read from job_tallies instead of counted.
func talliedList(f store.JobFilter) bool {
	return f.ParentID == -1 && len(f.AccountIDs) > 0 && f.Kind != "" && len(f.ParentIDs) == 0 &&
		len(f.Statuses) == 0 && len(f.PauseReasons) == 0 && f.Search == "" && f.Project == "" &&
		f.CreatedFrom == nil && f.CreatedTo == nil && !f.WithDeleted
}

// The job columns of ListJobTrees' parents and children, qualified once rather than per call.
var treeParentCols, treeChildCols = qualify("j", jobCols), qualify("c", jobCols)

// shallowTreeRows bounds the offset of a tree page read in one statement with its total: walking
// that many index entries costs less than a round trip for the total first.
const shallowTreeRows = 1000

// ListJobTrees reads a page of parents with their children of childKind and each child's units by
// status. Walking the index to the page's offset is most of what a page costs, so a full page in
// the older half of the list is walked to from the oldest end. A page within the newest
// shallowTreeRows is read in one statement, which counts the list first and picks the end. A deeper
// one reads the total first.
func (b *Base) ListJobTrees(ctx context.Context, f store.JobFilter, childKind string) (store.JobTrees, error) {
	f.ParentID, f.ParentIDs = -1, nil
	out := store.JobTrees{Children: map[int64][]store.Job{}, UnitCounts: map[int64]map[store.UnitStatus]int{}}
	var a Args
	where := b.jobWhere(&a, f)
	whereVals := slices.Clone(a.Vals) // the statement's further values are appended to a
	lo := max(f.Offset, 0)
	var counted, page, total string
	shallow := f.Limit > 0 && lo < shallowTreeRows
	switch {
	case shallow && lo == 0:
		total = `(` + b.countQuery(&a, f, where) + `)`
		page = `SELECT id FROM jobs` + where + ` ORDER BY id DESC` + limitOffset(&a, f.Limit, lo)
	case shallow:
		// Both ends' walks, of which the total lets one run: from the oldest end for a full page
		// nearer to it (n <= total-lo < lo+n), else from the newest. The other's limit is 0, which
		// both databases check before reading an index entry (a WHERE condition SQLite would test on
		// every one).
		counted = `total AS MATERIALIZED (SELECT (` + b.countQuery(&a, f, where) + `) AS n), `
		total = `(SELECT n FROM total)`
		// In the statement, n is the total; here, size is the page's.
		lop, size := a.Add(int64(lo)), strconv.Itoa(f.Limit)
		older := `n - ` + lop + ` >= ` + size + ` AND n - ` + lop + ` < ` + lop + ` + ` + size
		skip := `n - ` + lop + ` - ` + size
		page = `SELECT id FROM (SELECT id FROM jobs` + where + ` ORDER BY id DESC
				LIMIT (SELECT CASE WHEN ` + older + ` THEN 0 ELSE ` + size + ` END FROM total)
				OFFSET (SELECT CAST(` + lop + ` AS BIGINT))) newest
			UNION ALL
			SELECT id FROM (SELECT id FROM jobs` + where + ` ORDER BY id ASC
				LIMIT (SELECT CASE WHEN ` + older + ` THEN ` + size + ` ELSE 0 END FROM total)
				OFFSET (SELECT CASE WHEN ` + skip + ` > 0 THEN ` + skip + ` ELSE 0 END FROM total)) oldest`
	default:
		n, err := b.countJobs(ctx, f, where, whereVals)
		if err != nil {
			return out, err
		}
		out.Total = n
		if f.Limit > 0 {
			n = min(n-lo, f.Limit)
		} else {
			n -= lo
		}
		if n <= 0 {
			return out, nil
		}
		// A job created or deleted between the count and this read moves the page by one, as it
		// would between two page requests.
		order, skip := "DESC", lo
		if lo > out.Total/2 {
			order, skip = "ASC", out.Total-lo-n
		}
		total, page = "NULL", `SELECT id FROM jobs`+where+` ORDER BY id `+order+limitOffset(&a, n, skip)
	}
	// Each child's units by status come as "status:n,...". CROSS JOIN keeps SQLite from scanning
	// every child to probe the page.
	rows, err := b.r.Query(ctx, `WITH `+counted+`page AS MATERIALIZED (`+page+`)
		SELECT `+treeParentCols+`, NULL, `+total+` FROM page CROSS JOIN jobs j WHERE j.id = page.id
		UNION ALL
		SELECT `+treeChildCols+`, (SELECT string_agg(n.status || ':' || n.units, ',')
			FROM (SELECT status, COUNT(*) AS units FROM units WHERE job_id = c.id GROUP BY status) n), NULL
		FROM page CROSS JOIN jobs c
		WHERE c.parent_id <> 0 AND c.parent_id = page.id AND c.kind = `+a.Add(childKind), a.Vals...)
	if err != nil {
		return out, fmt.Errorf("list job trees: %w", err)
	}
	// Sized for a common page, which then allocates its rows once.
	out.Jobs = make([]store.Job, 0, min(max(f.Limit, 0), 100))
	var counts sql.NullString
	var rowTotal sql.NullInt64 // on the parents' rows of a shallow page
	var countsErr error
	err = each(rows, newJobScanner(&counts, &rowTotal).scan, func(j store.Job) {
		if j.ParentID == 0 {
			out.Jobs = append(out.Jobs, j)
			if rowTotal.Valid {
				out.Total = int(rowTotal.Int64)
			}
			return
		}
		out.Children[j.ParentID] = append(out.Children[j.ParentID], j)
		if countsErr == nil {
			out.UnitCounts[j.ID], countsErr = parseUnitCounts(counts.String)
		}
	})
	if err = cmp.Or(err, countsErr); err != nil {
		return out, fmt.Errorf("list job trees: %w", err)
	}
	if shallow && len(out.Jobs) == 0 && lo > 0 {
		// A page past the end has no row to carry the total.
		if out.Total, err = b.countJobs(ctx, f, where, whereVals); err != nil {
			return out, err
		}
	}
	slices.SortFunc(out.Jobs, func(x, y store.Job) int { return cmp.Compare(y.ID, x.ID) })
	for _, list := range out.Children {
		slices.SortFunc(list, func(x, y store.Job) int { return cmp.Compare(x.ID, y.ID) })
	}
	return out, nil
}

// parseUnitCounts reads the "status:n,..." list ListJobTrees aggregates ("" for a job with no units).
func parseUnitCounts(s string) (map[store.UnitStatus]int, error) {
	out := make(map[store.UnitStatus]int, 4)
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, ",")
		status, count, ok := strings.Cut(pair, ":")
		n, err := strconv.Atoi(count)
		if !ok || err != nil {
			return nil, fmt.Errorf("read unit counts %q: not status:count", pair)
		}
		out[store.UnitStatus(status)] = n
	}
	return out, nil
}

// PatchJob updates the job in one statement; a Priority or MaxAttempts change also goes to its units
// (priority only to units not yet leased or finished), in the same transaction.
func (b *Base) PatchJob(ctx context.Context, id int64, p store.JobPatch, now time.Time) (store.Job, error) {
	var a Args
	idp := a.Add(id)
	sets := []string{"updated_at = " + a.Add(MS(now))}
	set := func(col string, v any) { sets = append(sets, col+" = "+a.Add(v)) }
	if p.Status != nil {
		set("status", string(*p.Status))
	}
	if p.PauseReason != nil {
		set("pause_reason", *p.PauseReason)
	}
	if p.Priority != nil {
		set("priority", int64(*p.Priority))
	}
	if p.MaxConcurrency != nil {
		set("max_concurrency", int64(*p.MaxConcurrency))
	}
	if p.MaxAttempts != nil {
		set("max_attempts", int64(*p.MaxAttempts))
	}
	if p.UnitTimeout != nil {
		set("unit_timeout", Dur(*p.UnitTimeout))
	}
	if p.JobTimeout != nil {
		set("job_timeout", Dur(*p.JobTimeout))
	}
	if p.Name != nil {
		set("name", *p.Name)
	}
	if p.Project != nil {
		set("project", *p.Project)
	}
	if p.Spec != nil {
		set("spec", JSON(p.Spec))
	}
	if p.Result != nil {
		set("result", JSON(p.Result))
	}
	if p.AddCostMilli != 0 {
		sets = append(sets, "cost_milli = cost_milli + "+a.Add(p.AddCostMilli))
	}
	if !p.AddPaid.Zero() {
		sets = append(sets, "paid_coupon_milli = paid_coupon_milli + "+a.Add(p.AddPaid.CouponMilli),
			"paid_balance_milli = paid_balance_milli + "+a.Add(p.AddPaid.BalanceMilli),
			"paid_credit_milli = paid_credit_milli + "+a.Add(p.AddPaid.CreditMilli),
			"unpaid_milli = unpaid_milli + "+a.Add(p.AddPaid.UnpaidMilli))
	}
	if p.Deleted != nil {
		set("deleted", *p.Deleted)
	}
	if p.StartedAt != nil {
		set("started_at", MS(*p.StartedAt))
	}
	if p.ClearPendingDeadline {
		sets = append(sets, "pending_deadline = NULL")
	} else if p.PendingDeadline != nil {
		set("pending_deadline", MS(*p.PendingDeadline))
	}
	if p.ClearFinished {
		sets = append(sets, "finished_at = NULL")
	} else if p.FinishedAt != nil {
		set("finished_at", MS(*p.FinishedAt))
	}
	where := "id = " + idp
	if len(p.IfStatus) > 0 {
		where += " AND " + b.D.InStrings(&a, "status", strs(p.IfStatus))
	}
	update := func(q Querier) (store.Job, error) {
		j, err := scanJob(q.QueryRow(ctx, `UPDATE jobs SET `+strings.Join(sets, ", ")+` WHERE `+where+
			` RETURNING `+jobCols, a.Vals...))
		if errors.Is(err, store.ErrNotFound) && len(p.IfStatus) > 0 {
			var one int64
			if q.QueryRow(ctx, `SELECT 1 FROM jobs WHERE id = $1`, id).Scan(&one) == nil {
				return j, store.ErrStale
			}
		}
		return j, err
	}
	var j store.Job
	var err error
	if p.Priority == nil && p.MaxAttempts == nil {
		j, err = update(b.w)
	} else {
		// Units before the job, the order of the engine's control transactions, so that the two never
		// wait for each other's rows; a job that does not match rolls the units back.
		err = b.tx(ctx, func(q Querier) error {
			if p.Priority != nil {
				if _, err := q.Exec(ctx, `UPDATE units SET priority = $2 WHERE job_id = $1
					AND status IN ('queued', 'paused', 'blocked')`, id, int64(*p.Priority)); err != nil {
					return fmt.Errorf("re-prioritise units: %w", err)
				}
			}
			if p.MaxAttempts != nil {
				if _, err := q.Exec(ctx, `UPDATE units SET max_attempts = $2 WHERE job_id = $1`,
					id, int64(*p.MaxAttempts)); err != nil {
					return fmt.Errorf("set units' max attempts: %w", err)
				}
			}
			j, err = update(q)
			return err
		})
	}
	return j, wrap(err, "patch job %d", id)
}

// DeleteJob removes the job, its units and its blocklist; its events stay.
func (b *Base) DeleteJob(ctx context.Context, id int64) error {
	return wrap(b.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM units WHERE job_id = $1`, id); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM worker_failures WHERE job_id = $1`, id); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	}), "delete job %d", id)
}

// FoldJobTallies folds the job tally's journal into its totals, where the driver keeps one. The
// sweep calls it; a total is right before the fold too, only dearer to read.
func (b *Base) FoldJobTallies(ctx context.Context) error {
	q := b.D.FoldJobTallies()
	if q == "" {
		return nil
	}
	_, err := b.w.Exec(ctx, q)
	return wrap(err, "fold job tallies")
}

// UnitCounts has an entry, possibly empty, for every job asked about.
func (b *Base) UnitCounts(ctx context.Context, jobIDs []int64) (map[int64]map[store.UnitStatus]int, error) {
	out := make(map[int64]map[store.UnitStatus]int, len(jobIDs))
	for _, id := range jobIDs {
		out[id] = map[store.UnitStatus]int{}
	}
	if len(jobIDs) == 0 {
		return out, nil
	}
	var a Args
	rows, err := b.r.Query(ctx, `SELECT job_id, status, COUNT(*) FROM units WHERE `+
		b.D.InInt64s(&a, "job_id", jobIDs, false)+` GROUP BY job_id, status`, a.Vals...)
	if err != nil {
		return nil, fmt.Errorf("count units: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return nil, fmt.Errorf("count units: %w", err)
		}
		out[id][store.UnitStatus(status)] = n
	}
	return out, wrap(rows.Err(), "count units")
}

func (b *Base) HasUnfinishedUnits(ctx context.Context, jobID int64) (bool, error) {
	var n int64
	err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM units WHERE job_id = $1 AND status IN `+
		unfinishedUnit+` LIMIT 1) AS x`, jobID).Scan(&n)
	return n > 0, wrap(err, "unfinished units of job %d", jobID)
}

func (b *Base) CountUnfinishedUnits(ctx context.Context, jobID int64, limit int) (int, error) {
	var n int
	err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM units WHERE job_id = $1 AND status IN `+
		unfinishedUnit+` LIMIT $2) AS x`, jobID, limit).Scan(&n)
	return n, wrap(err, "count unfinished units of job %d", jobID)
}

// unfinishedJob is the SQL condition of the jobs_unfinished index (migration 00007): the count below
// reads that index alone.
const unfinishedJob = `status IN ('waiting', 'queued', 'running', 'paused') AND NOT deleted`

func (b *Base) CountUnfinishedJobs(ctx context.Context, accountID int64, exceptKinds []string, limit int) (int, error) {
	var a Args
	q := `SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE account_id = ` + a.Add(accountID) + ` AND ` + unfinishedJob
	if len(exceptKinds) > 0 {
		q += ` AND NOT (` + b.D.InStrings(&a, "kind", exceptKinds) + `)`
	}
	q += ` LIMIT ` + a.Add(limit) + `) AS x`
	var n int
	err := b.r.QueryRow(ctx, q, a.Vals...).Scan(&n)
	return n, wrap(err, "count unfinished jobs of account %d", accountID)
}

func (b *Base) JobsToFinalize(ctx context.Context, limit int) ([]int64, error) {
	var a Args
	ids, err := all(scanInt64)(b.r.Query(ctx, `SELECT id FROM jobs j WHERE status IN ('queued', 'running')
		AND EXISTS (SELECT 1 FROM units u WHERE u.job_id = j.id)
		AND NOT EXISTS (SELECT 1 FROM units u WHERE u.job_id = j.id AND u.status IN `+unfinishedUnit+`)
		ORDER BY id`+limitOffset(&a, limit, 0), a.Vals...))
	return ids, wrap(err, "jobs to finalize")
}

// pendingDeadline is when a new job ends for waiting: PendingDeadline when the caller set it, else
// PendingTimeout from now; nil (never) without a timeout.
func pendingDeadline(j store.Job, now time.Time) any {
	switch {
	case j.PendingDeadline != nil:
		return MS(*j.PendingDeadline)
	case j.PendingTimeout > 0:
		return MS(now.Add(j.PendingTimeout))
	}
	return nil
}

func (b *Base) JobsPastPendingTimeout(ctx context.Context, now time.Time, limit int) ([]store.Job, error) {
	a := Args{Vals: []any{MS(now)}}
	jobs, err := all(newJobScanner().scan)(b.r.Query(ctx, `SELECT `+jobCols+` FROM jobs WHERE status = 'queued'
		AND pending_deadline IS NOT NULL AND pending_deadline <= $1 AND NOT deleted ORDER BY pending_deadline, id`+
		limitOffset(&a, limit, 0), a.Vals...))
	return jobs, wrap(err, "jobs past pending timeout")
}

func (b *Base) JobsPastTimeout(ctx context.Context, now time.Time, limit int) ([]store.Job, error) {
	a := Args{Vals: []any{MS(now)}}
	jobs, err := all(newJobScanner().scan)(b.r.Query(ctx, `SELECT `+jobCols+` FROM jobs WHERE status IN ('queued', 'running')
		AND job_timeout > 0 AND started_at IS NOT NULL AND started_at + job_timeout < $1 ORDER BY id`+
		limitOffset(&a, limit, 0), a.Vals...))
	return jobs, wrap(err, "jobs past timeout")
}

func (b *Base) ReleaseWaiters(ctx context.Context, jobID int64, now time.Time) ([]int64, error) {
	var ids []int64
	// Units before their jobs, the order of the engine's control transactions (see PatchJob).
	err := b.tx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `UPDATE units SET status = 'queued', updated_at = $2 WHERE status = 'blocked'
			AND job_id IN (SELECT id FROM jobs WHERE wait_for = $1 AND status = 'waiting')`, jobID, MS(now)); err != nil {
			return err
		}
		var err error
		ids, err = all(scanInt64)(q.Query(ctx, `UPDATE jobs SET status = 'queued', updated_at = $2
			WHERE wait_for = $1 AND status = 'waiting' RETURNING id`, jobID, MS(now)))
		slices.Sort(ids)
		return err
	})
	return ids, wrap(err, "release waiters of job %d", jobID)
}
