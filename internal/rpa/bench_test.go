package rpa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

const (
	benchItems     = 100_000
	benchConsumers = 32
)

// BenchmarkQueuePopUpdate measures signed pop + status update pairs over loopback HTTP: 32
// consumers, each with its own token and connection pool, work one queue of 100,000 items. Each
// iteration is one pair; run it with -benchtime=<pairs>x (at most 100,000 in all). No item may be
// handed out twice.
//
//	go test ./internal/rpa -run '^$' -bench BenchmarkQueuePopUpdate -benchtime=20000x
func BenchmarkQueuePopUpdate(b *testing.B) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) {
			// The testing package calls the inner function more than once (N=1 first); the queue is
			// filled once per driver, here, and each run consumes its share.
			e := benchQueue(b, d.Open(b))
			var seen sync.Map
			popped := atomic.Int64{}
			b.Run("consumers=32", func(b *testing.B) {
				if popped.Load()+int64(b.N) > benchItems {
					b.Fatalf("%d pairs asked, %d items left: use -benchtime=Nx with N <= %d", b.N, benchItems-popped.Load(), benchItems-1)
				}
				clients := make([]*Client, benchConsumers)
				tr := &http.Transport{MaxIdleConnsPerHost: benchConsumers * 2}
				b.Cleanup(tr.CloseIdleConnections)
				for i := range clients {
					clients[i] = &Client{BaseURL: e.srv.URL, HTTP: &http.Client{Transport: tr}}
					if err := clients[i].Login(context.Background(), "admin", adminPassword); err != nil {
						b.Fatal(err)
					}
				}
				var left atomic.Int64
				left.Store(int64(b.N))
				errs := make(chan error, benchConsumers)
				var wg sync.WaitGroup
				b.ResetTimer()
				for _, c := range clients {
					wg.Go(func() {
						ctx := context.Background()
						for left.Add(-1) >= 0 {
							var it *item
							if err := c.Get(ctx, "/oapi/v1/queue/item/pop", url.Values{"queueName": {"bench"}}, &it); err != nil {
								errs <- fmt.Errorf("pop: %w", err)
								return
							}
							if it == nil {
								errs <- fmt.Errorf("the queue ran dry")
								return
							}
							if _, dup := seen.LoadOrStore(it.ItemNo, true); dup {
								errs <- fmt.Errorf("item %s handed out twice", it.ItemNo)
								return
							}
							popped.Add(1)
							if err := c.Send(ctx, "PUT", "/oapi/v1/queue/item", map[string]any{
								"queueName": "bench", "itemNo": it.ItemNo, "id": it.ID, "status": "success", "result": "ok",
							}, nil); err != nil {
								errs <- fmt.Errorf("update %s: %w", it.ItemNo, err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
			})
		})
	}
}

// benchQueue starts a server with a queue "bench" of benchItems items. The items are added through
// the engine, as the item route adds them, since 100,000 signed adds are not what is measured.
func benchQueue(b *testing.B, st store.Store) *env {
	b.Helper()
	ctx := context.Background()
	e := newEnv(b, st)
	if err := e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "bench", "queueMaxItems": 0, "failTryTimes": 0}, nil); err != nil {
		b.Fatal(err)
	}
	q, err := facade.GetDocByKey[queueDoc](ctx, e.st, e.account, recQueue, "bench")
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 5000
	for start := 0; start < benchItems; start += chunk {
		specs := make([]engine.UnitSpec, chunk)
		for i := range specs {
			spec, _ := json.Marshal(itemSpec{Keys: []itemKey{{Key: "n", Value: fmt.Sprint(start + i)}}})
			specs[i] = engine.UnitSpec{Name: newToken(), Capability: CapabilityQueue, Priority: 1, Spec: spec}
		}
		if _, err := e.eng.AddUnits(ctx, q.Doc.JobID, specs); err != nil {
			b.Fatal(err)
		}
	}
	return e
}
