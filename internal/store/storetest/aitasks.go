package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testAITasks: the AI task center's tables: users unique per tenant, keys found by hash with a quota
// limit kept under concurrency, channels disabled after enough auth failures, prices by model then
// action, task lists filtered and paged newest first, guarded status changes that one writer wins,
// and poll claims that never give a task to two jobs.
func testAITasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant, other := account(t, s, "tenant"), account(t, s, "other")
	u, err := s.CreateAIUser(ctx, store.AIUser{TenantID: tenant.ID, AccountID: tenant.ID, Username: "alice", Role: store.AIRoleUser, CreatedAt: at(0)})
	must(t, err)
	_, err = s.CreateAIUser(ctx, store.AIUser{TenantID: tenant.ID, AccountID: other.ID, Username: "alice", Role: store.AIRoleUser, CreatedAt: at(0)})
	mustIs(t, err, store.ErrConflict)
	if got, err := s.GetAIUserByAccount(ctx, tenant.ID); err != nil || got.ID != u.ID {
		t.Fatalf("user by account = %+v, %v", got, err)
	}

	// Keys: a limit holds under concurrent use; a negative use gives quota back.
	k, err := s.CreateAIKey(ctx, store.AIKey{UserID: u.ID, Hash: "h1", Tail: "abcd", QuotaLimit: 10, Enabled: true, CreatedAt: at(0)})
	must(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseAIKeyQuota(ctx, k.ID, 1)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 10 {
		t.Fatalf("a limit of 10 granted %d uses", granted)
	}
	if ok, err := s.UseAIKeyQuota(ctx, k.ID, -3); err != nil || !ok {
		t.Fatalf("give back: %v %v", ok, err)
	}
	if got, err := s.GetAIKeyByHash(ctx, "h1"); err != nil || got.QuotaUsed != 7 {
		t.Fatalf("key = %+v, %v", got, err)
	}
	_, err = s.GetAIKeyByHash(ctx, "nope")
	mustIs(t, err, store.ErrNotFound)

	// Channels: the third auth failure in a row disables, once.
	ch, err := s.CreateAIChannel(ctx, store.AIChannel{TenantID: tenant.ID, Platform: "suno", BaseURL: "http://x", Models: []string{"a", "b"},
		Weight: 1, Enabled: true, CreatedAt: at(0)})
	must(t, err)
	var disabled []bool
	for range 4 {
		d, err := s.NoteAIChannelAuth(ctx, ch.ID, false, 3, "auth", at(time.Second))
		must(t, err)
		disabled = append(disabled, d)
	}
	if fmt.Sprint(disabled) != "[false false true false]" {
		t.Fatalf("disabled = %v", disabled)
	}
	if got, _ := s.GetAIChannel(ctx, ch.ID); got.Enabled || got.StatusReason != "auth" || len(got.Models) != 2 {
		t.Fatalf("channel = %+v", got)
	}
	got, _ := s.GetAIChannel(ctx, ch.ID)
	got.Deleted = true
	must(t, s.UpdateAIChannel(ctx, got, at(time.Second)))
	_, err = s.GetAIChannel(ctx, ch.ID)
	mustIs(t, err, store.ErrNotFound)

	// Prices: the model's own before the action's.
	must(t, s.SetAIPrice(ctx, store.AIPrice{TenantID: tenant.ID, Platform: "suno", Action: "MUSIC", Quota: 10}))
	must(t, s.SetAIPrice(ctx, store.AIPrice{TenantID: tenant.ID, Platform: "suno", Action: "MUSIC", Model: "v4", Quota: 20}))
	must(t, s.SetAIPrice(ctx, store.AIPrice{TenantID: tenant.ID, Platform: "suno", Action: "MUSIC", Model: "v4", Quota: 25}))
	for model, want := range map[string]int64{"v4": 25, "v3": 10} {
		if p, err := s.GetAIPrice(ctx, tenant.ID, "suno", "MUSIC", model); err != nil || p.Quota != want {
			t.Fatalf("price of %s = %+v, %v", model, p, err)
		}
	}
	_, err = s.GetAIPrice(ctx, other.ID, "suno", "MUSIC", "v4")
	mustIs(t, err, store.ErrNotFound)

	// Tasks.
	var ids []int64
	for i := range 5 {
		status := "SUBMITTED"
		if i == 4 {
			status = "SUCCESS"
		}
		tk, err := s.CreateAITask(ctx, store.AITask{TenantID: tenant.ID, UserID: u.ID, TaskID: fmt.Sprint("task_", i), Platform: "suno",
			Action: "MUSIC", Status: status, Quota: 10, SubmitTime: int64(1000 + i), Properties: json.RawMessage(`{"input":"x"}`),
			Active: i != 4, CreatedAt: at(time.Duration(i) * time.Second)})
		must(t, err)
		ids = append(ids, tk.ID)
	}
	_, err = s.CreateAITask(ctx, store.AITask{TenantID: tenant.ID, UserID: u.ID, TaskID: "task_0", Platform: "suno", Action: "MUSIC", Status: "SUBMITTED", CreatedAt: at(0)})
	mustIs(t, err, store.ErrConflict)
	lists := []struct {
		name  string
		f     store.AITaskFilter
		total int
		first string
		n     int
	}{
		{"all", store.AITaskFilter{TenantID: tenant.ID}, 5, "task_4", 5},
		{"page", store.AITaskFilter{TenantID: tenant.ID, Limit: 2, Offset: 2}, 5, "task_2", 2},
		{"status", store.AITaskFilter{TenantID: tenant.ID, Status: "SUCCESS"}, 1, "task_4", 1},
		{"time", store.AITaskFilter{TenantID: tenant.ID, SubmitFrom: 1001, SubmitTo: 1002}, 2, "task_2", 2},
		{"other user", store.AITaskFilter{TenantID: tenant.ID, UserID: u.ID + 1000}, 0, "", 0},
		{"other tenant", store.AITaskFilter{TenantID: other.ID}, 0, "", 0},
		{"with username", store.AITaskFilter{TenantID: tenant.ID, TaskID: "task_1", WithUsername: true}, 1, "task_1", 1},
	}
	for _, l := range lists {
		ts, total, err := s.ListAITasks(ctx, l.f)
		must(t, err)
		if total != l.total || len(ts) != l.n || (l.n > 0 && ts[0].TaskID != l.first) {
			t.Fatalf("%s: %d of %d, first %v", l.name, len(ts), total, ts)
		}
		if l.f.WithUsername && ts[0].Username != "alice" {
			t.Fatalf("username = %q", ts[0].Username)
		}
	}
	if ts, err := s.GetAITasksByPublicIDs(ctx, tenant.ID, u.ID, []string{"task_1", "task_9"}); err != nil || len(ts) != 1 {
		t.Fatalf("by public ids = %v, %v", ts, err)
	}
	_, err = s.GetAITaskByPublicID(ctx, other.ID, 0, "task_1")
	mustIs(t, err, store.ErrNotFound)

	// A guarded change: of eight writers moving one task out of SUBMITTED, one wins.
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, active := "FAILURE", false
			ok, err := s.UpdateAITask(ctx, ids[0], "SUBMITTED", store.AITaskPatch{Status: &st, Active: &active}, at(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d writers won", wins)
	}

	// Claims: due tasks go to one poll job; a second claim of any of them changes nothing.
	due, err := s.DueAITasks(ctx, []string{"SUBMITTED"}, at(time.Hour), 10)
	must(t, err)
	if len(due) != 3 {
		t.Fatalf("due = %d tasks", len(due))
	}
	must(t, s.ClaimAITasks(ctx, []int64{ids[1], ids[2]}, 77))
	err = s.InTx(ctx, func(tx store.Store) error { return tx.ClaimAITasks(ctx, []int64{ids[2], ids[3]}, 78) })
	mustIs(t, err, store.ErrConflict)
	if due, _ := s.DueAITasks(ctx, []string{"SUBMITTED"}, at(time.Hour), 10); len(due) != 1 || due[0].ID != ids[3] {
		t.Fatalf("due after claims = %v", due)
	}
	if jobs, err := s.StaleAIPollJobs(ctx, at(time.Hour), 10); err != nil || fmt.Sprint(jobs) != "[77]" {
		t.Fatalf("stale poll jobs = %v, %v", jobs, err)
	}
	if n, err := s.ReleaseAITasks(ctx, 77, at(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("release = %d, %v", n, err)
	}
	if due, _ := s.DueAITasks(ctx, []string{"SUBMITTED"}, at(time.Hour), 10); len(due) != 1 {
		t.Fatalf("released tasks due before their time: %v", due)
	}

	// Overdue: past the deadline, or stuck NOT_START.
	_, err = s.CreateAITask(ctx, store.AITask{TenantID: tenant.ID, UserID: u.ID, TaskID: "stuck", Platform: "suno", Action: "MUSIC",
		Status: "NOT_START", Active: true, CreatedAt: at(0)})
	must(t, err)
	_, err = s.CreateAITask(ctx, store.AITask{TenantID: tenant.ID, UserID: u.ID, TaskID: "late", Platform: "suno", Action: "MUSIC",
		Status: "QUEUED", Active: true, Deadline: at(time.Minute), CreatedAt: at(0)})
	must(t, err)
	over, err := s.OverdueAITasks(ctx, at(2*time.Minute), at(time.Second), 10)
	must(t, err)
	if len(over) != 2 {
		t.Fatalf("overdue = %v", over)
	}
}
