package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"taskcenter/internal/store"
)

// leaseOrder is the lease order. The deadline key is spelled exactly as in the units_ready index so
// that the index serves it: NULL deadlines sort last without relying on NULLS LAST in the index.
const leaseOrder = "u.priority DESC, COALESCE(u.deadline, 9223372036854775807), u.id"

// candidate is a unit Lease may take.
type candidate struct {
	id, jobID, priority, deadline int64
	maxConcurrency                int
}

// leaseCandidates selects (and on PostgreSQL locks, skipping rows other leasers hold) up to n ready
// units for r in lease order, leaving out the jobs in skipJobs and the units in skipUnits. Each
// capability gets its own ordered index scan; the branches are merged here. Job state (deleted,
// MaxConcurrency) is read per candidate by primary key rather than copied onto units, so soft delete and
// limit changes need no unit updates.
func (b *Base) leaseCandidates(ctx context.Context, q Querier, r store.LeaseRequest, n int, skipJobs, skipUnits []int64) ([]candidate, error) {
	var a Args
	nowp, wp := a.Add(MS(r.Now)), a.Add(r.WorkerID)
	var w []string
	w = append(w, "u.status = 'queued'", "u.run_after <= "+nowp,
		"(u.avoid_worker <> "+wp+" OR u.avoid_until IS NULL OR u.avoid_until <= "+nowp+")",
		"NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = u.job_id AND j.deleted)",
		"NOT EXISTS (SELECT 1 FROM worker_failures f WHERE f.job_id = u.job_id AND f.worker_id = "+wp+" AND f.blocked)")
	// The marker of a multi-tag unit is no tag of a worker's: such a unit matches through unit_tags.
	tags := slices.DeleteFunc(slices.Clone(r.Tags), func(t string) bool { return t == "" || t == store.AnyTagMarker })
	if len(tags) > 0 {
		w = append(w, "(u.tag = '' OR "+b.D.InStrings(&a, "u.tag", tags)+" OR (u.tag = '"+store.AnyTagMarker+
			"' AND EXISTS (SELECT 1 FROM unit_tags t WHERE t.unit_id = u.id AND "+b.D.InStrings(&a, "t.tag", tags)+")))")
	} else {
		w = append(w, "u.tag = ''")
	}
	if r.AccountID != 0 {
		w = append(w, "u.account_id = "+a.Add(r.AccountID))
	}
	if r.Undrained { // uncorrelated: evaluated once per query
		w = append(w, "NOT EXISTS (SELECT 1 FROM workers dw WHERE dw.id = "+wp+" AND dw.drained_at IS NOT NULL)")
	}
	if r.JobID != 0 {
		w = append(w, "u.job_id = "+a.Add(r.JobID))
	}
	if len(skipJobs) > 0 {
		w = append(w, b.D.InInt64s(&a, "u.job_id", skipJobs, true))
	}
	if len(skipUnits) > 0 {
		w = append(w, b.D.InInt64s(&a, "u.id", skipUnits, true))
	}
	where := strings.Join(w, " AND ")
	limit := a.Add(int64(n))
	caps := slices.Compact(slices.Sorted(slices.Values(r.Capabilities)))
	branches := make([]string, len(caps))
	for i, c := range caps {
		branches[i] = `SELECT u.id, u.job_id, u.priority, COALESCE(u.deadline, 9223372036854775807) AS dkey,
			COALESCE((SELECT j.max_concurrency FROM jobs j WHERE j.id = u.job_id), 0) AS mc
			FROM units u WHERE u.capability = ` + a.Add(c) + ` AND ` + where + ` ORDER BY ` + leaseOrder +
			` LIMIT ` + limit + b.D.LockSkipLocked()
	}
	query := branches[0]
	if len(branches) > 1 {
		for i, br := range branches {
			branches[i] = fmt.Sprintf("SELECT * FROM (%s) AS b%d", br, i)
		}
		query = strings.Join(branches, " UNION ALL ")
	}
	cands, err := all(func(row Row) (candidate, error) {
		var c candidate
		return c, row.Scan(&c.id, &c.jobID, &c.priority, &c.deadline, &c.maxConcurrency)
	})(q.Query(ctx, query, a.Vals...))
	if err != nil {
		return nil, fmt.Errorf("select candidates: %w", err)
	}
	slices.SortFunc(cands, func(x, y candidate) int {
		switch {
		case x.priority != y.priority:
			return int(y.priority - x.priority)
		case x.deadline != y.deadline:
			if x.deadline < y.deadline {
				return -1
			}
			return 1
		}
		return int(x.id - y.id)
	})
	if len(cands) > n {
		// Rows of the other branches stay locked until commit; nobody else needed them sooner.
		cands = cands[:n]
	}
	return cands, nil
}

// limitJobs trims cands to the free slots of their jobs' MaxConcurrency. On PostgreSQL it locks those
// jobs' rows (skipping any another transaction holds: that job counts as full this time) so that two
// leasers cannot both see the same free slot; unlimited jobs are never locked. It returns the kept
// candidates and the jobs that had no more room.
func (b *Base) limitJobs(ctx context.Context, q Querier, cands []candidate) (kept []candidate, full []int64, err error) {
	var limited []int64
	for _, c := range cands {
		if c.maxConcurrency > 0 && !slices.Contains(limited, c.jobID) {
			limited = append(limited, c.jobID)
		}
	}
	if len(limited) == 0 {
		return cands, nil, nil
	}
	slices.Sort(limited)
	var a Args
	rows, err := q.Query(ctx, `SELECT id, max_concurrency FROM jobs WHERE `+b.D.InInt64s(&a, "id", limited, false)+
		` ORDER BY id`+b.D.LockSkipLocked(), a.Vals...)
	if err != nil {
		return nil, nil, fmt.Errorf("lock limited jobs: %w", err)
	}
	// slots holds the room left per locked job; -1 is unlimited. A limited job missing from it was
	// locked by someone else.
	slots := map[int64]int{}
	var counted []int64
	for rows.Next() {
		var id int64
		var mc int
		if err := rows.Scan(&id, &mc); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("lock limited jobs: %w", err)
		}
		if mc > 0 {
			slots[id] = mc
			counted = append(counted, id)
		} else {
			slots[id] = -1
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("lock limited jobs: %w", err)
	}
	if len(counted) > 0 {
		a = Args{}
		rows, err := q.Query(ctx, `SELECT job_id, COUNT(*) FROM units WHERE status = 'running' AND `+
			b.D.InInt64s(&a, "job_id", counted, false)+` GROUP BY job_id`, a.Vals...)
		if err != nil {
			return nil, nil, fmt.Errorf("count running units: %w", err)
		}
		for rows.Next() {
			var id int64
			var running int
			if err := rows.Scan(&id, &running); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("count running units: %w", err)
			}
			slots[id] = max(slots[id]-running, 0)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("count running units: %w", err)
		}
	}
	for _, c := range cands {
		if c.maxConcurrency <= 0 {
			kept = append(kept, c)
			continue
		}
		left, locked := slots[c.jobID]
		switch {
		case locked && left < 0:
			kept = append(kept, c)
		case locked && left > 0:
			slots[c.jobID] = left - 1
			kept = append(kept, c)
		case !slices.Contains(full, c.jobID):
			full = append(full, c.jobID)
		}
	}
	return kept, full, nil
}

// leasePasses bounds how often Lease looks again after MaxConcurrency turned candidates away.
const leasePasses = 3

// Lease runs in one transaction: pick candidates in lease order, drop those over their job's
// MaxConcurrency (looking again past full jobs when that left room), then lease the rest in one UPDATE
// and mark their queued jobs running.
func (b *Base) Lease(ctx context.Context, r store.LeaseRequest) ([]store.Unit, error) {
	if r.Max <= 0 || len(r.Capabilities) == 0 {
		return nil, nil
	}
	var units []store.Unit
	err := b.tx(ctx, func(q Querier) error {
		var picked, skipJobs, skipUnits []int64
		for pass := 0; pass < leasePasses && len(picked) < r.Max; pass++ {
			cands, err := b.leaseCandidates(ctx, q, r, r.Max-len(picked), skipJobs, skipUnits)
			if err != nil {
				return err
			}
			kept, full, err := b.limitJobs(ctx, q, cands)
			if err != nil {
				return err
			}
			for _, c := range kept {
				picked = append(picked, c.id)
			}
			if len(full) == 0 {
				break
			}
			skipJobs = append(skipJobs, full...)
			// Our own locks do not make SKIP LOCKED skip a row, so exclude what we already took.
			skipUnits = slices.Clone(picked)
		}
		if len(picked) == 0 {
			return nil
		}
		var a Args
		nowp := a.Add(MS(r.Now))
		var err error
		units, err = all(scanUnit)(q.Query(ctx, `UPDATE units SET status = 'running', worker_id = `+a.Add(r.WorkerID)+
			`, epoch = epoch + 1, attempts = attempts + 1, lease_expires = `+a.Add(MS(r.Now.Add(r.LeaseFor)))+
			`, started_at = `+nowp+`, updated_at = `+nowp+` WHERE `+b.D.InInt64s(&a, "id", picked, false)+
			` RETURNING `+unitCols, a.Vals...))
		if err != nil {
			return fmt.Errorf("lease units: %w", err)
		}
		var jobs []int64
		for _, u := range units {
			if !slices.Contains(jobs, u.JobID) {
				jobs = append(jobs, u.JobID)
			}
		}
		slices.Sort(jobs)
		// A job row another transaction holds is skipped rather than waited for (no lock waits, so no
		// deadlocks against transactions that lock a job then its units); its holder is most likely
		// another leaser marking it running too.
		a = Args{}
		nowp = a.Add(MS(r.Now))
		if _, err := q.Exec(ctx, `UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, `+nowp+
			`), updated_at = `+nowp+` WHERE id IN (SELECT id FROM jobs WHERE `+b.D.InInt64s(&a, "id", jobs, false)+
			` AND status = 'queued'`+b.D.LockSkipLocked()+`)`, a.Vals...); err != nil {
			return fmt.Errorf("mark jobs running: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	slices.SortFunc(units, func(x, y store.Unit) int {
		switch {
		case x.Priority != y.Priority:
			return y.Priority - x.Priority
		case x.Deadline == nil && y.Deadline == nil:
		case x.Deadline == nil:
			return 1
		case y.Deadline == nil:
			return -1
		case !x.Deadline.Equal(*y.Deadline):
			return x.Deadline.Compare(*y.Deadline)
		}
		return int(x.ID - y.ID)
	})
	return units, nil
}
