package rpa

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// unitLists records the unit lists asked of the store.
type unitLists struct {
	store.Store
	mu    sync.Mutex
	calls []store.UnitFilter
}

func (s *unitLists) ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error) {
	s.mu.Lock()
	s.calls = append(s.calls, f)
	s.mu.Unlock()
	return s.Store.ListUnits(ctx, f)
}

func (s *unitLists) take() []store.UnitFilter {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// TestItemListFiltersInSQL lists queue items by priority, creation time and status: each answer is
// the page the filters select, read as one page from the database, not a scan of the whole queue.
func TestItemListFiltersInSQL(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			st := &unitLists{Store: d.Open(t)}
			e := newEnv(t, st)
			// Items are created at the engine's time (the wall clock here); from and to are whole seconds.
			start := time.Now().Truncate(time.Second)
			must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{
				"queueName": "orders", "queueMaxItems": 100, "failTryTimes": 2, "timeOut": "30",
			}, nil))
			prios := []string{"low", "normal", "high"}
			for i := range 30 {
				must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue/item", map[string]any{
					"queueName": "orders", "priority": prios[i%3], "deadline": "2040-01-01 00:00:00",
					"keys": fmt.Sprintf(`[{"key":"order","value":"A-%03d"}]`, i),
				}, nil))
			}
			at := func(d time.Duration) string { return start.Add(d).In(time.Local).Format("2006-01-02 15:04:05") }
			tests := []struct {
				name      string
				q         url.Values
				total     int
				items     int
				wantPrio  string
				wantState string
			}{
				{"high", url.Values{"priority": {"high"}}, 10, 10, "high", ""},
				{"normal, second page", url.Values{"priority": {"Normal"}, "page": {"2"}, "size": {"4"}}, 10, 4, "normal", ""},
				{"low, from and to", url.Values{"priority": {"low"}, "from": {at(0)}, "to": {at(time.Hour)}}, 10, 10, "low", ""},
				{"from later", url.Values{"from": {at(time.Hour)}}, 0, 0, "", ""},
				{"to earlier", url.Values{"to": {at(-time.Second)}, "size": {"100"}}, 0, 0, "", ""},
				{"pending, from, paged", url.Values{"status": {"pending"}, "from": {at(0)}, "page": {"3"}, "size": {"12"}}, 30, 6, "", "pending"},
				{"retry", url.Values{"status": {"retry"}}, 0, 0, "", ""},
			}
			st.take()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					q := url.Values{"queueName": {"orders"}}
					for k, v := range tc.q {
						q[k] = v
					}
					var list Page[item]
					must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", q, &list))
					if list.Total != tc.total || len(list.Items) != tc.items {
						t.Fatalf("total %d with %d items, want %d with %d", list.Total, len(list.Items), tc.total, tc.items)
					}
					for _, it := range list.Items {
						if (tc.wantPrio != "" && it.Priority != tc.wantPrio) || (tc.wantState != "" && it.Status != tc.wantState) {
							t.Fatalf("item %+v does not match the filter", it)
						}
					}
					var pages int
					for _, f := range st.take() {
						if f.JobID != 0 {
							pages++
							if f.Limit == itemScanChunk {
								t.Fatalf("the list scanned the queue in chunks (%+v)", f)
							}
						}
					}
					if pages != 1 {
						t.Fatalf("%d unit lists for one page, want 1", pages)
					}
				})
			}
		})
	}
}
