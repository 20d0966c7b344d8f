package aitasks_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlstore"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// Benchmarks of the performance section (docs/performance.md). Every figure is on loopback, with the
// fake upstream in the same process (its CPU counts in the figures).

func benchDrivers(b *testing.B, fn func(b *testing.B, open func(testing.TB) store.Store)) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) { fn(b, d.Open) })
	}
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
}

// BenchmarkRelaySubmit: POST /suno/submit/lyrics through to the fake upstream, charged, in parallel.
func BenchmarkRelaySubmit(b *testing.B) {
	benchDrivers(b, func(b *testing.B, open func(testing.TB) store.Store) {
		// The server's own periods (engine sweeps and poll planning once a second), not the tests'
		// short ones, whose background queries would be measured with the submits.
		e := newEnvTimed(b, open(b), engine.Config{}, func(c *aitasks.Config) { c.PollInterval, c.PlanEvery = time.Hour, 0 })
		u := e.newUser("bench", "user", 1<<50)
		hc := benchClient()
		body := `{"prompt":"words","title":"t","tags":"pop"}`
		var failed atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		start, startCPU := time.Now(), cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("POST", e.srv.URL+"/suno/submit/lyrics", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+u.key)
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
		b.ReportMetric(float64((cpuTime()-startCPU).Microseconds())/float64(b.N), "cpu-µs/submit")
		if failed.Load() > 0 {
			b.Fatalf("%d submits failed", failed.Load())
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writer is the driver's raw SQL door, for bulk set-up only.
type writer interface{ Writer() sqlstore.Querier }

// bulkTasks inserts n tasks of the user on channel ch, upstream ids up-b<i>, status SUBMITTED,
// active, due at nextPoll (Unix ms), in one statement.
func bulkTasks(b *testing.B, st store.Store, e *env, u user, n int, nextPoll int64) {
	b.Helper()
	w, ok := st.(writer)
	if !ok {
		b.Fatalf("%T has no Writer", st)
	}
	now := time.Now().UnixMilli()
	_, err := w.Writer().Exec(context.Background(), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
		INSERT INTO ai_tasks (tenant_id, user_id, key_id, channel_id, task_id, upstream_id, platform, action, model, status,
			progress, quota, submit_time, start_time, properties, data, active, next_poll_at, deadline, created_at, updated_at)
		SELECT $2, $3, 0, $4, 'task_b' || i, 'up-b' || i, 'suno', 'MUSIC', 'suno_music', 'SUBMITTED', '0%', 1000,
			$5 + i, $5 + i, '{"input":"x"}', '{}', 1, $6, $7, $8, $8 FROM n`,
		n, e.tenant, u.ID, e.ch.ID, now/1000-int64(n), nextPoll, now+int64(24*time.Hour/time.Millisecond), now)
	if err != nil {
		b.Fatal(err)
	}
	// As autovacuum / a periodic ANALYZE would have by the time a table holds that many rows.
	if _, err := w.Writer().Exec(context.Background(), `ANALYZE ai_tasks`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPollRound10k: 10,000 tasks in flight, each polled once (one op = one round); reports the
// process's CPU time per round and that as a share of one core over the 15 s default interval.
func BenchmarkPollRound10k(b *testing.B) {
	const n = 10_000
	benchDrivers(b, func(b *testing.B, open func(testing.TB) store.Store) {
		st := open(b)
		e := newEnvTimed(b, st, engine.Config{}, func(c *aitasks.Config) { c.PollInterval = time.Hour; c.PlanEvery = 50 * time.Millisecond })
		u := e.newUser("bench", "user", 0)
		far := time.Now().Add(time.Hour).UnixMilli()
		bulkTasks(b, st, e, u, n, far)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprint("up-b", i+1)
		}
		e.up.addStalled(ids)
		w := st.(writer).Writer()
		ctx := context.Background()
		var cpu, wall time.Duration
		b.ResetTimer()
		for range b.N {
			_, _, _, _ = e.up.counts()
			startCPU, start := cpuTime(), time.Now()
			if _, err := w.Exec(ctx, `UPDATE ai_tasks SET next_poll_at = 0 WHERE user_id = $1`, u.ID); err != nil {
				b.Fatal(err)
			}
			testutil.Eventually(b, 5*time.Minute, func() error {
				var left int
				if err := w.QueryRow(ctx, `SELECT COUNT(*) FROM ai_tasks WHERE user_id = $1 AND (next_poll_at < $2 OR poll_job <> 0)`,
					u.ID, start.UnixMilli()).Scan(&left); err != nil {
					return err
				}
				if left > 0 {
					return errorf("%d tasks not polled yet", left)
				}
				return nil
			})
			cpu += cpuTime() - startCPU
			wall += time.Since(start)
		}
		_, fetches, maxBatch, overlaps := e.up.counts()
		if overlaps > 0 {
			b.Fatalf("%d overlapping fetches", overlaps)
		}
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/round")
		b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/round")
		b.ReportMetric(100*cpu.Seconds()/float64(b.N)/15, "%core@15s")
		b.ReportMetric(float64(fetches)/float64(b.N), "fetches/round")
		_ = maxBatch
	})
}

// BenchmarkListSelf1M: GET /api/task/self over 1,000,000 tasks of one user, pages 1 to 10, in
// parallel; reports requests per second and the 99th percentile latency.
func BenchmarkListSelf1M(b *testing.B) {
	const n = 1_000_000
	benchDrivers(b, func(b *testing.B, open func(testing.TB) store.Store) {
		st := open(b)
		e := newEnvTimed(b, st, engine.Config{}, func(c *aitasks.Config) { c.PollInterval, c.PlanEvery, c.TotalsTTL = time.Hour, 0, 2*time.Second })
		u := e.newUser("bench", "user", 0)
		bulkTasks(b, st, e, u, n, time.Now().Add(time.Hour).UnixMilli())
		hc := benchClient()
		var mu sync.Mutex
		var lat []time.Duration
		var failed atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		start, startCPU := time.Now(), cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/task/self?p=%d&page_size=20", e.srv.URL, 1+rand.IntN(10)), nil)
				req.Header.Set("Authorization", "Bearer "+u.token)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		elapsed := time.Since(start)
		if failed.Load() > 0 {
			b.Fatalf("%d requests failed", failed.Load())
		}
		slices.Sort(lat)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64((cpuTime()-startCPU).Microseconds())/float64(b.N), "cpu-µs/req")
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		}
	})
}
