package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"taskcenter/internal/store"
)

// BenchUnits is how many units one Bench iteration inserts and drains: TASKCENTER_BENCH_UNITS or 20000.
func BenchUnits() int {
	if n, err := strconv.Atoi(os.Getenv("TASKCENTER_BENCH_UNITS")); err == nil && n > 0 {
		return n
	}
	return 20000
}

// Bench measures the hot path: each iteration creates a job of BenchUnits units, then workers drain it
// with Lease (100 at a time) and CompleteUnits of the whole batch. It reports units/s end to end, and
// the insert and the drain separately.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchLeaseComplete(b, open(b), workers)
		})
	}
}

func benchLeaseComplete(b *testing.B, s store.Store, workers int) {
	ctx := context.Background()
	n := BenchUnits()
	var insert, drain time.Duration
	units := 0
	for i := 0; b.Loop(); i++ {
		capability := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if _, err := s.CreateJob(ctx, store.Job{AccountID: 1, Kind: "bench", MaxAttempts: 3}, mkUnits(n, capability), t0); err != nil {
			b.Fatal(err)
		}
		insert += time.Since(start)
		start = time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := range workers {
			wg.Go(func() {
				done := 0
				for {
					us, err := s.Lease(ctx, store.LeaseRequest{WorkerID: int64(w + 1), Capabilities: []string{capability},
						Max: 100, LeaseFor: time.Minute, Now: t0})
					if err != nil {
						b.Error(err)
						return
					}
					if len(us) == 0 {
						break
					}
					cs := make([]store.Completion, len(us))
					for i, u := range us {
						cs[i] = store.Completion{UnitID: u.ID, Epoch: u.Epoch, CostMilli: 1}
					}
					errs, _, err := s.CompleteUnits(ctx, cs, t0)
					if err != nil {
						b.Error(err)
						return
					}
					for _, e := range errs {
						if e != nil {
							b.Error(e)
							return
						}
					}
					done += len(us)
				}
				mu.Lock()
				units += done
				mu.Unlock()
			})
		}
		wg.Wait()
		drain += time.Since(start)
	}
	if units != n*b.N {
		b.Fatalf("drained %d units, want %d", units, n*b.N)
	}
	total := float64(n * b.N)
	b.ReportMetric(total/(insert+drain).Seconds(), "units/s")
	b.ReportMetric(total/insert.Seconds(), "insert-units/s")
	b.ReportMetric(total/drain.Seconds(), "drain-units/s")
}

// BenchCreateJobs measures creating top-level jobs of 10 units each, one per transaction, from 8
// goroutines at once: all for one account (which a counter row per account would serialise on
// PostgreSQL), or each for its own account.
func BenchCreateJobs(b *testing.B, open func(b *testing.B) store.Store) {
	for _, accounts := range []int{1, 8} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			var next sync.Mutex
			n := 0
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				acct := int64(1 + n%accounts)
				n++
				next.Unlock()
				for pb.Next() {
					if _, err := s.CreateJob(ctx, store.Job{AccountID: acct, Kind: "bench", Name: "job"}, make10Units(), time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

func make10Units() []store.Unit {
	us := make([]store.Unit, 10)
	for i := range us {
		us[i] = store.Unit{Index: i, Name: strconv.Itoa(i), Capability: "bench"}
	}
	return us
}

// BenchUseAccountNonce records fresh nonces from concurrent signers, as every signed request of the
// dialects does before anything else: the nonce's write, its commit and the signer's account read.
func BenchUseAccountNonce(b *testing.B, open func(b *testing.B) store.Store) {
	for _, signers := range []int{1, 16} {
		b.Run(fmt.Sprintf("signers=%d", signers), func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			a, err := s.CreateAccount(ctx, store.Account{Name: "signer", Role: store.RoleUser})
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			use := func() bool {
				now := time.Now()
				nonce := strconv.FormatInt(seq.Add(1), 10)
				fresh, got, err := s.UseAccountNonce(ctx, a.ID, "bench", nonce, now.Add(10*time.Minute), now)
				if err != nil || !fresh || got.ID != a.ID {
					b.Errorf("nonce %s: fresh=%v account=%d, %v", nonce, fresh, got.ID, err)
					return false
				}
				return true
			}
			if signers == 1 { // ns/op is then one call's latency
				for b.Loop() {
					if !use() {
						return
					}
				}
			} else {
				b.SetParallelism(max(1, signers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() && use() {
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "nonces/s")
		})
	}
}

// BenchListJobTrees reads random pages of 10 of an account's 1,000 tasks, each with a child of 10
// units, among 9,000 tasks of other accounts: the render task list's store call, alone. ns/op is
// one page's latency (one caller in a loop); the offset walk is most of a deep page's cost.
func BenchListJobTrees(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	ctx := context.Background()
	const accounts, tasks, frames = 10, 1000, 10
	units := make([]store.Unit, frames)
	for i := range units {
		units[i] = store.Unit{Index: i, Capability: "bench"}
	}
	now := time.Now()
	for n := range tasks {
		err := s.InTx(ctx, func(tx store.Store) error {
			for acct := range int64(accounts) {
				p, err := tx.CreateJob(ctx, store.Job{AccountID: acct + 1, Kind: "task", Name: fmt.Sprintf("task-%d", n)}, nil, now)
				if err != nil {
					return err
				}
				if _, err := tx.CreateJob(ctx, store.Job{AccountID: acct + 1, ParentID: p.ID, Kind: "frames"}, units, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.FoldJobTallies(ctx); err != nil {
		b.Fatal(err)
	}
	if pg, ok := s.(interface{ Pool() *pgxpool.Pool }); ok {
		// What autovacuum does soon after a bulk load: statistics, and the visibility map that
		// index-only scans need.
		if _, err := pg.Pool().Exec(ctx, "VACUUM ANALYZE jobs, units, job_tallies, job_tally_changes"); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		f := store.JobFilter{AccountIDs: []int64{1 + r.Int64N(accounts)}, Kind: "task", ParentID: -1, Limit: 10, Offset: 10 * r.IntN(tasks/10)}
		tr, err := s.ListJobTrees(ctx, f, "frames")
		if err != nil || len(tr.Jobs) != 10 || tr.Total != tasks {
			b.Fatalf("page at %d: %d jobs of %d, %v", f.Offset, len(tr.Jobs), tr.Total, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}
