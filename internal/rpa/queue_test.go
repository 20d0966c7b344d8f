package rpa

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
)

type item struct {
	ID       string `json:"id"`
	ItemNo   string `json:"itemNo"`
	Priority string `json:"priority"`
	Status   string `json:"status"`
	RunTimes int    `json:"runTimes"`
	Keys     []struct {
		Key, Value string
	} `json:"keys"`
}

func TestQueueConcurrentPop(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{
			"queueName": "orders", "queueMaxItems": 100, "failTryTimes": 1, "queueDesc": "订单", "timeOut": "30",
		}, nil))
		prios := []string{"low", "normal", "high"}
		for i := range 50 {
			must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue/item", map[string]any{
				"queueName": "orders", "priority": prios[i%3], "deadline": "2030-01-01 00:00:00",
				"keys": fmt.Sprintf(`[{"key":"order","value":"A-%03d"}]`, i),
			}, nil))
		}
		var list Page[item]
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}, "size": {"100"}}, &list))
		if list.Total != 50 {
			t.Fatalf("listed %d items, want 50", list.Total)
		}

		// Eight workers, each with its own token, pop until the queue is empty.
		const workers = 8
		clients := make([]*Client, workers)
		for i := range clients {
			clients[i] = e.login("admin", adminPassword)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var order []item
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var it *item
					if err := c.Get(ctx, "/oapi/v1/queue/item/pop", url.Values{"queueName": {"orders"}}, &it); err != nil {
						errs <- err
						return
					}
					if it == nil {
						return
					}
					mu.Lock()
					seen[it.ItemNo]++
					order = append(order, *it)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(seen) != 50 {
			t.Fatalf("popped %d distinct items, want 50", len(seen))
		}
		for no, n := range seen {
			if n != 1 {
				t.Fatalf("item %s handed out %d times", no, n)
			}
		}
		for _, it := range order {
			if it.Status != "running" {
				t.Fatalf("popped item is %s", it.Status)
			}
		}

		// Status updates: success, retry (failTryTimes 1 allows one more run), failed.
		upd := func(it item, status string) error {
			return e.admin.Send(ctx, "PUT", "/oapi/v1/queue/item", map[string]any{
				"queueName": "orders", "itemNo": it.ItemNo, "status": status, "result": "done by test", "id": it.ID,
			}, nil)
		}
		must(t, upd(order[0], "success"))
		wantCode(t, upd(order[0], "success"), CodeStateConflict)
		must(t, upd(order[1], "retry"))
		must(t, upd(order[2], "failed"))
		wantCode(t, upd(order[3], "done"), CodeParamInvalid)

		var filtered Page[item]
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}, "filter": {"status:success OR status:failed"}}, &filtered))
		if filtered.Total != 2 {
			t.Fatalf("filter matched %d items, want 2", filtered.Total)
		}
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}, "status": {"retry"}}, &filtered))
		if filtered.Total != 1 || filtered.Items[0].RunTimes != 1 {
			t.Fatalf("retry items: %+v", filtered)
		}
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}, "filter": {"order:A-00*"}, "size": {"100"}}, &filtered))
		if filtered.Total != 10 {
			t.Fatalf("key filter matched %d items, want 10", filtered.Total)
		}
		wantCode(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}, "filter": {"status:(success"}}, nil), CodeParamInvalid)

		// Delete two items, clear, delete the queue.
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/queue/item", map[string]any{"queueName": "orders",
			"items": []map[string]string{{"itemNo": order[4].ItemNo}, {"itemNo": order[5].ItemNo}}}, nil))
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}}, &filtered))
		if filtered.Total != 48 {
			t.Fatalf("after delete: %d items", filtered.Total)
		}
		must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/queue/clear", map[string]any{"queueName": "orders"}, nil))
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}}, &filtered))
		if filtered.Total != 0 {
			t.Fatalf("after clear: %d items", filtered.Total)
		}
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/queue", map[string]any{"queueName": "orders"}, nil))
		wantCode(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"orders"}}, nil), CodeNotFound)
	})
}

func TestQueueOrderAndCap(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "small", "queueMaxItems": 3, "failTryTimes": 0}, nil))
		add := func(prio, deadline string) error {
			return e.admin.Send(ctx, "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "small", "priority": prio, "deadline": deadline}, nil)
		}
		must(t, add("low", "2030-01-01 00:00:00"))
		must(t, add("high", "2030-06-01 00:00:00"))
		must(t, add("high", "2030-02-01 00:00:00"))
		wantCode(t, add("normal", "2030-01-01 00:00:00"), CodeQueueFull)
		wantCode(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "small", "queueMaxItems": 3, "failTryTimes": 0}, nil), CodeExists)
		var got []string
		for range 3 {
			var it item
			must(t, e.admin.Get(ctx, "/oapi/v1/queue/item/pop", url.Values{"queueName": {"small"}}, &it))
			got = append(got, it.Priority)
		}
		if fmt.Sprint(got) != "[high high low]" {
			t.Fatalf("pop order %v", got)
		}
		var it *item
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item/pop", url.Values{"queueName": {"small"}}, &it))
		if it != nil {
			t.Fatalf("empty queue popped %+v", it)
		}
		// Running items no longer count against the cap once they are done.
		var l Page[item]
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"small"}, "priority": {"high"}}, &l))
		if l.Total != 2 {
			t.Fatalf("priority filter: %d", l.Total)
		}
		must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/queue/item", map[string]any{"queueName": "small", "itemNo": l.Items[0].ItemNo, "status": "success"}, nil))
		must(t, add("normal", "2030-03-01 00:00:00"))
	})
}
