package aitasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// TestCollections: the console's collections show a tenant's tasks (filtered, searched, paged),
// channels (never the key; a disabled one with its reason) and users (quota left and used, keys);
// a user's own account sees only its tasks and itself; another tenant sees none of it; the server
// admin's view (account 0) holds every tenant's; an unknown or bad filter is refused.
func TestCollections(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice, bob := e.newUser("alice", store.AIRoleUser, 10_000), e.newUser("bob", store.AIRoleAdmin, 10_000)
		done := e.submit(alice, "MUSIC", map[string]any{"prompt": "a song", "mv": "chirp-v3-5"})
		e.waitStatus(alice, done, "SUCCESS")
		stalled := e.submit(alice, "LYRICS", map[string]any{"prompt": "stall"})
		bobs := e.submit(bob, "MUSIC", map[string]any{"prompt": "stall"})
		off := e.addChannel(e.up, aitasks.PlatformSuno, -1)
		off.Enabled, off.StatusReason = false, "disabled by an administrator"
		if err := e.st.UpdateAIChannel(ctx, off, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		other := newEnv(t, e.st, nil) // another tenant on the same database, with its own user and task
		carol := other.newUser("carol", store.AIRoleUser, 10_000)
		carols := other.submit(carol, "MUSIC", map[string]any{"prompt": "stall"})

		cols := map[string]native.Collection{}
		for _, c := range e.api.Collections() {
			cols[c.CollectionName()] = c
		}
		list := func(name string, acct int64, q native.CollectionQuery) ([]map[string]any, int, error) {
			items, total, err := cols[name].ListCollection(ctx, acct, q)
			var out []map[string]any
			for _, it := range items {
				if strings.Contains(string(it), e.up.key) || strings.Contains(string(it), alice.key) || strings.Contains(string(it), alice.token) {
					t.Fatalf("%s shows a secret: %s", name, it)
				}
				var m map[string]any
				if err := json.Unmarshal(it, &m); err != nil {
					t.Fatal(err)
				}
				out = append(out, m)
			}
			return out, total, err
		}
		field := func(items []map[string]any, k string) []string {
			var out []string
			for _, it := range items {
				out = append(out, fmt.Sprint(it[k]))
			}
			return out
		}
		page := native.CollectionQuery{Limit: 100}
		with := func(search string, filter map[string]string) native.CollectionQuery {
			return native.CollectionQuery{Limit: 100, Search: search, Filter: filter}
		}
		for _, tc := range []struct {
			name, col string
			acct      int64
			q         native.CollectionQuery
			key       string
			want      []string // the key's values, in order; nil: none
			total     int      // -1: at least len(want), the admin's view of a shared database
			invalid   bool
		}{
			{"a tenant's tasks, newest first", "aitasks.tasks", e.tenant, page, "task_id", []string{bobs, stalled, done}, 3, false},
			{"a page of them", "aitasks.tasks", e.tenant, native.CollectionQuery{Limit: 1, Offset: 1}, "task_id", []string{stalled}, 3, false},
			{"by status", "aitasks.tasks", e.tenant, with("", map[string]string{"status": "SUCCESS"}), "task_id", []string{done}, 1, false},
			{"by action", "aitasks.tasks", e.tenant, with("", map[string]string{"action": "LYRICS"}), "task_id", []string{stalled}, 1, false},
			{"by user", "aitasks.tasks", e.tenant, with("", map[string]string{"user_id": fmt.Sprint(bob.ID)}), "task_id", []string{bobs}, 1, false},
			{"by channel", "aitasks.tasks", e.tenant, with("", map[string]string{"channel_id": fmt.Sprint(e.ch.ID)}), "task_id", []string{bobs, stalled, done}, 3, false},
			{"searched by task id", "aitasks.tasks", e.tenant, with(done, nil), "task_id", []string{done}, 1, false},
			{"searched by user name", "aitasks.tasks", e.tenant, with("alice", nil), "task_id", []string{stalled, done}, 2, false},
			{"a user name not there", "aitasks.tasks", e.tenant, with("nobody", nil), "task_id", nil, 0, false},
			{"the tasks' users", "aitasks.tasks", e.tenant, page, "username", []string{"bob", "alice", "alice"}, 3, false},
			{"the tasks' channel", "aitasks.tasks", e.tenant, page, "channel", []string{"suno", "suno", "suno"}, 3, false},
			{"the quota charged", "aitasks.tasks", e.tenant, page, "quota", []string{"1000", "100", "1000"}, 3, false},
			{"a user's own account: its tasks", "aitasks.tasks", alice.AccountID, page, "task_id", []string{stalled, done}, 2, false},
			{"without their channel", "aitasks.tasks", alice.AccountID, page, "channel_id", []string{"0", "0"}, 2, false},
			{"nor another user's", "aitasks.tasks", alice.AccountID, with("", map[string]string{"user_id": fmt.Sprint(bob.ID)}), "task_id", nil, 0, false},
			{"another tenant's", "aitasks.tasks", other.tenant, page, "task_id", []string{carols}, 1, false},
			{"every tenant's, to an admin", "aitasks.tasks", 0, with("", map[string]string{"user_id": fmt.Sprint(carol.ID)}), "task_id", []string{carols}, 1, false},
			{"a task id, to an admin", "aitasks.tasks", 0, with(done, nil), "task_id", []string{done}, 1, false},
			{"an unknown filter", "aitasks.tasks", e.tenant, with("", map[string]string{"colour": "red"}), "", nil, 0, true},
			{"a bad user id", "aitasks.tasks", e.tenant, with("", map[string]string{"user_id": "x"}), "", nil, 0, true},

			{"a tenant's channels", "aitasks.channels", e.tenant, page, "name", []string{"suno", "video", "suno"}, 3, false},
			{"enabled or not", "aitasks.channels", e.tenant, page, "enabled", []string{"true", "true", "false"}, 3, false},
			{"and why not", "aitasks.channels", e.tenant, page, "status_reason", []string{"", "", "disabled by an administrator"}, 3, false},
			{"their base URL", "aitasks.channels", e.tenant, with("", map[string]string{"platform": "video"}), "base_url", []string{e.up.srv.URL}, 1, false},
			{"searched", "aitasks.channels", e.tenant, with("VID", nil), "platform", []string{"video"}, 1, false},
			{"none to a user", "aitasks.channels", alice.AccountID, page, "name", nil, 0, false},
			{"a channel filter it lacks", "aitasks.channels", e.tenant, with("", map[string]string{"status": "x"}), "", nil, 0, true},

			{"a tenant's users", "aitasks.users", e.tenant, page, "username", []string{"alice", "bob"}, 2, false},
			{"their quota left", "aitasks.users", e.tenant, page, "quota", []string{"8900", "9000"}, 2, false},
			{"and used", "aitasks.users", e.tenant, page, "used_quota", []string{"1100", "1000"}, 2, false},
			{"their keys", "aitasks.users", e.tenant, page, "keys", []string{"1", "1"}, 2, false},
			{"by role", "aitasks.users", e.tenant, with("", map[string]string{"role": "admin"}), "username", []string{"bob"}, 1, false},
			{"a page", "aitasks.users", e.tenant, native.CollectionQuery{Limit: 1, Offset: 1}, "username", []string{"bob"}, 2, false},
			{"a user: itself", "aitasks.users", alice.AccountID, page, "username", []string{"alice"}, 1, false},
			{"another tenant's users", "aitasks.users", other.tenant, page, "username", []string{"carol"}, 1, false},
			{"every tenant's, to an admin", "aitasks.users", 0, with("carol", nil), "username", []string{"carol"}, -1, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				items, total, err := list(tc.col, tc.acct, tc.q)
				if tc.invalid {
					if !errors.Is(err, store.ErrInvalid) {
						t.Fatalf("err = %v, want invalid", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := field(items, tc.key); !slices.Equal(got, tc.want) || (tc.total >= 0 && total != tc.total) || total < len(tc.want) {
					t.Fatalf("%s: %v of %d, want %v of %d", tc.key, got, total, tc.want, tc.total)
				}
			})
		}
	})
}

// BenchmarkCollectionTasks100k: the console's AI task list (aitasks.tasks, one op = one page of 50)
// over 100,000 tasks of a tenant, 1% of them SUCCESS: unfiltered, filtered by status, searched by a
// task id and a user name, and the server admin's view of every tenant. Totals are reused as the
// task lists reuse them (TotalsTTL, or twenty times as long as a count took); first-ms is a
// filter's first page, which counts its total.
func BenchmarkCollectionTasks100k(b *testing.B) {
	const n = 100_000
	benchDrivers(b, func(b *testing.B, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(b)
		e := newEnv(b, st, func(c *aitasks.Config) { c.PollInterval = time.Hour })
		u := e.newUser("bench", "user", 0)
		bulkTasks(b, st, e, u, n, time.Now().Add(time.Hour).UnixMilli())
		w := st.(writer).Writer()
		if _, err := w.Exec(ctx, `UPDATE ai_tasks SET status = 'SUCCESS' WHERE id % 100 = 0`); err != nil {
			b.Fatal(err)
		}
		// As autovacuum would have by then: PostgreSQL counts from the index alone once the visibility
		// map is set (SQLite has no such step).
		if _, err := w.Exec(ctx, `VACUUM (ANALYZE) ai_tasks`); err != nil {
			if _, err := w.Exec(ctx, `ANALYZE ai_tasks`); err != nil {
				b.Fatal(err)
			}
		}
		var tasks native.Collection
		for _, c := range e.api.Collections() {
			if c.CollectionName() == "aitasks.tasks" {
				tasks = c
			}
		}
		for _, bc := range []struct {
			name string
			acct int64
			q    native.CollectionQuery
			min  int // the total at least
		}{
			{"tenant", e.tenant, native.CollectionQuery{Limit: 50}, n},
			{"tenant-page-100", e.tenant, native.CollectionQuery{Limit: 50, Offset: 5000}, n},
			{"status", e.tenant, native.CollectionQuery{Limit: 50, Filter: map[string]string{"status": "SUCCESS"}}, n / 100},
			{"task-id", e.tenant, native.CollectionQuery{Limit: 50, Search: "task_b777"}, 1},
			{"user-name", e.tenant, native.CollectionQuery{Limit: 50, Search: "bench"}, n},
			{"every-tenant", 0, native.CollectionQuery{Limit: 50, Filter: map[string]string{"status": "SUCCESS"}}, n / 100},
		} {
			b.Run(bc.name, func(b *testing.B) {
				t0 := time.Now() // the first page of a filter counts its total
				if _, _, err := tasks.ListCollection(ctx, bc.acct, bc.q); err != nil {
					b.Fatal(err)
				}
				first := time.Since(t0)
				for b.Loop() {
					items, total, err := tasks.ListCollection(ctx, bc.acct, bc.q)
					if err != nil || total < bc.min || len(items) == 0 {
						b.Fatalf("%d items of %d: %v", len(items), total, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
				b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
			})
		}
	})
}
