package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/bench"
	"taskcenter/internal/engine"
	"taskcenter/internal/store/storetest/drivers"
)

// BenchmarkEngine: insert, lease and complete b.N units in-process (no HTTP), leasing and completing in
// batches of 100, on each driver with 1, 8 and 64 workers.
//
//	go test ./internal/e2e -run '^$' -bench Engine -benchtime 100000x
func BenchmarkEngine(b *testing.B) {
	for _, d := range drivers.All() {
		for _, workers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/workers=%d", d.Name, workers), func(b *testing.B) {
				st := d.Open(b)
				eng := engine.New(st, engine.Config{Holder: "bench"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
				b.ResetTimer()
				res, err := bench.Run(context.Background(), eng, st, bench.Options{Workers: workers, Batch: 100, Drain: b.N, JobSize: 10000})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.PerSecond(), "units/s")
			})
		}
	}
}

// BenchmarkAgentProtocol: b.N units leased and completed through the agent protocol over loopback HTTP by
// 8 workers, in batches of 100 (insertion is not timed).
//
//	go test ./internal/e2e -run '^$' -bench AgentProtocol -benchtime 100000x
func BenchmarkAgentProtocol(b *testing.B) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) {
			s := startStack(b, d.Open(b), engine.Config{}, nil)
			for left := b.N; left > 0; left -= 10000 {
				s.submit(b, "http-bench", min(left, 10000), nil, nil)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			done := 0
			b.ResetTimer()
			start := time.Now()
			for i := range 8 {
				w := registerWorker(b, s.srv.URL, s.creds.AgentToken, fmt.Sprintf("hb-%d", i), []string{"http-bench"})
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						lr, err := w.c.Lease(context.Background(), agentapi.LeaseRequest{Max: 100})
						if err != nil {
							b.Error(err)
							return
						}
						if len(lr.Units) == 0 {
							return
						}
						cs := make([]agentapi.Completion, len(lr.Units))
						for i, u := range lr.Units {
							cs[i] = agentapi.Completion{UnitRef: agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}}
						}
						if _, err := w.c.Complete(context.Background(), agentapi.CompleteRequest{Units: cs}); err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						done += len(cs)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(done)/time.Since(start).Seconds(), "units/s")
		})
	}
}

// BenchmarkWakeLatency: the time from a unit becoming ready to a long-polling agent holding it, over
// loopback HTTP. Reports the median and p99 over b.N submissions.
//
//	go test ./internal/e2e -run '^$' -bench WakeLatency -benchtime 500x
func BenchmarkWakeLatency(b *testing.B) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) {
			s := startStack(b, d.Open(b), engine.Config{}, nil)
			w := registerWorker(b, s.srv.URL, s.creds.AgentToken, "waiter", []string{"wake"})
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				got := make(chan time.Time, 1)
				go func() {
					lr, err := w.c.Lease(context.Background(), agentapi.LeaseRequest{Max: 1, WaitSeconds: 30})
					if err != nil || len(lr.Units) != 1 {
						b.Errorf("lease: %v, %d units", err, len(lr.Units))
					}
					got <- time.Now()
					w.c.Complete(context.Background(), agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: agentapi.UnitRef{UnitID: lr.Units[0].UnitID, Epoch: lr.Units[0].Epoch}}}})
				}()
				time.Sleep(5 * time.Millisecond) // let the agent start waiting
				start := time.Now()
				s.submit(b, "wake", 1, nil, nil)
				lat = append(lat, (<-got).Sub(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkIdleLongPolls: the server's heap with 1,000 agents long-polling for work that never comes.
//
//	go test ./internal/e2e -run '^$' -bench IdleLongPolls -benchtime 1x
func BenchmarkIdleLongPolls(b *testing.B) {
	d := drivers.All()[0]
	s := startStack(b, d.Open(b), engine.Config{IdleRecheck: 30 * time.Second}, nil)
	const agents = 1000
	ws := make([]*protoWorker, agents)
	for i := range ws {
		ws[i] = registerWorker(b, s.srv.URL, s.creds.AgentToken, fmt.Sprintf("idle-%d", i), []string{"idle"})
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.c.Lease(ctx, agentapi.LeaseRequest{Max: 1, WaitSeconds: 30})
		}()
	}
	time.Sleep(3 * time.Second) // every poll is parked in the server
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	cancel()
	wg.Wait()
	// Client and server share this process: the figure is an upper bound on the server's share.
	b.ReportMetric(float64(during.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(during.Sys)/(1<<20), "sys-MB")
	b.ReportMetric(float64(int64(during.HeapInuse)-int64(before.HeapInuse))/agents/1024, "KB/poll")
}
