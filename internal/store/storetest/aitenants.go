package storetest

import (
	"context"
	"slices"
	"testing"

	"taskcenter/internal/store"
)

// testAITenants: a server admin's view of the AI task center: the tenants with users or channels,
// and task lists over every tenant (filtered by user, paged newest first).
func testAITenants(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, none := account(t, s, "tenant a"), account(t, s, "tenant b"), account(t, s, "no ai")
	ua, err := s.CreateAIUser(ctx, store.AIUser{TenantID: a.ID, AccountID: a.ID, Username: "ann", Role: store.AIRoleUser, CreatedAt: at(0)})
	must(t, err)
	_, err = s.CreateAIChannel(ctx, store.AIChannel{TenantID: b.ID, Platform: "suno", Name: "up", BaseURL: "http://127.0.0.1:1",
		Weight: 1, Enabled: true, CreatedAt: at(0)})
	must(t, err)
	ub, err := s.CreateAIUser(ctx, store.AIUser{TenantID: b.ID, AccountID: b.ID, Username: "bob", Role: store.AIRoleUser, CreatedAt: at(0)})
	must(t, err)
	ts, err := s.ListAITenants(ctx)
	must(t, err)
	if !slices.Contains(ts, a.ID) || !slices.Contains(ts, b.ID) || slices.Contains(ts, none.ID) || !slices.IsSorted(ts) {
		t.Fatalf("tenants %v: want %d and %d, not %d, in order", ts, a.ID, b.ID, none.ID)
	}
	mk := func(u store.AIUser, id string) {
		_, err := s.CreateAITask(ctx, store.AITask{TenantID: u.TenantID, UserID: u.ID, TaskID: id, Platform: "suno", Action: "MUSIC",
			Status: "SUBMITTED", CreatedAt: at(0)})
		must(t, err)
	}
	mk(ua, "task_a1")
	mk(ub, "task_b1")
	mk(ua, "task_a2")
	for _, tc := range []struct {
		name string
		f    store.AITaskFilter
		want []string // newest first, among these tenants' tasks
	}{
		{"every tenant", store.AITaskFilter{AllTenants: true}, []string{"task_a2", "task_b1", "task_a1"}},
		{"a user", store.AITaskFilter{AllTenants: true, UserID: ub.ID}, []string{"task_b1"}},
		{"a status", store.AITaskFilter{AllTenants: true, Status: "SUCCESS"}, nil},
		{"a tenant", store.AITaskFilter{TenantID: a.ID}, []string{"task_a2", "task_a1"}},
	} {
		got, total, err := s.ListAITasks(ctx, tc.f)
		must(t, err)
		var ids []string
		for _, tk := range got {
			if tk.TenantID == a.ID || tk.TenantID == b.ID {
				ids = append(ids, tk.TaskID)
			}
		}
		if !slices.Equal(ids, tc.want) || total < len(tc.want) {
			t.Fatalf("%s: %v (total %d), want %v", tc.name, ids, total, tc.want)
		}
	}
	page, total, err := s.ListAITasks(ctx, store.AITaskFilter{AllTenants: true, Limit: 1, Offset: 1})
	must(t, err)
	if len(page) != 1 || total < 3 {
		t.Fatalf("a page of every tenant's tasks: %d of %d", len(page), total)
	}
	if _, _, err := s.ListAITasks(ctx, store.AITaskFilter{}); err == nil {
		t.Fatal("a list without a tenant, and not of every tenant, was answered")
	}
}
