package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testAITasksBatch: tasks created together come back as stored, in order, or not at all when a
// public id is taken; a start of many tasks moves only those still in the from status.
func testAITasksBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := account(t, s, "tenant")
	u, err := s.CreateAIUser(ctx, store.AIUser{TenantID: tenant.ID, AccountID: tenant.ID, Username: "bob", Role: store.AIRoleUser, CreatedAt: at(0)})
	must(t, err)
	task := func(i int) store.AITask {
		return store.AITask{TenantID: tenant.ID, UserID: u.ID, KeyID: 7, TaskID: fmt.Sprint("batch_", i), Platform: "suno",
			Action: "LYRICS", Model: "m", Status: "NOT_START", Progress: "0%", Quota: int64(100 + i), SubmitTime: 1000,
			Properties: json.RawMessage(`{"input":"x"}`), NotifyHook: "http://h", Active: true, Deadline: at(time.Hour),
			CreatedAt: at(time.Second)}
	}
	if got, err := s.CreateAITasks(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("create no tasks = %v, %v", got, err)
	}
	in := []store.AITask{task(3), task(1), task(2)}
	got, err := s.CreateAITasks(ctx, in)
	must(t, err)
	if len(got) != len(in) {
		t.Fatalf("created %d tasks, want %d", len(got), len(in))
	}
	for i, g := range got {
		one, err := s.GetAITask(ctx, g.ID)
		must(t, err)
		want := in[i]
		if g.ID == 0 || g.TaskID != want.TaskID || g.Quota != want.Quota || one.TaskID != want.TaskID ||
			string(one.Properties) != `{"input":"x"}` || one.NotifyHook != "http://h" || !one.Active ||
			!one.Deadline.Equal(want.Deadline) || !one.UpdatedAt.Equal(want.CreatedAt) || one.Status != "NOT_START" {
			t.Fatalf("task %d stored as %+v (returned %+v), want %+v", i, one, g, want)
		}
	}
	_, err = s.CreateAITasks(ctx, []store.AITask{task(4), task(1)})
	mustIs(t, err, store.ErrConflict)
	if _, err := s.GetAITaskByPublicID(ctx, tenant.ID, 0, "batch_4"); err == nil {
		t.Fatal("a task of a refused batch was kept")
	}

	// got[2] has moved on already: only the other two start.
	st := "SUBMITTED"
	if ok, err := s.UpdateAITask(ctx, got[2].ID, "NOT_START", store.AITaskPatch{Status: &st}, at(time.Minute)); err != nil || !ok {
		t.Fatalf("move task: %v %v", ok, err)
	}
	starts := []store.AITaskStart{
		{ID: got[0].ID, UpstreamID: "up-0", ChannelID: 5, StartTime: 2000, NextPollAt: at(2 * time.Minute)},
		{ID: got[2].ID, UpstreamID: "up-2", ChannelID: 5, StartTime: 2000, NextPollAt: at(2 * time.Minute)},
		{ID: got[1].ID, UpstreamID: "up-1", ChannelID: 6, StartTime: 2001, NextPollAt: at(3 * time.Minute)},
	}
	moved, err := s.StartAITasks(ctx, "NOT_START", "SUBMITTED", starts, at(time.Minute))
	must(t, err)
	if fmt.Sprint(moved) != "[true false true]" {
		t.Fatalf("moved = %v, want [true false true]", moved)
	}
	for i, ss := range starts {
		one, err := s.GetAITask(ctx, ss.ID)
		must(t, err)
		started := moved[i] && one.UpstreamID == ss.UpstreamID && one.ChannelID == ss.ChannelID &&
			one.StartTime == ss.StartTime && one.NextPollAt.Equal(ss.NextPollAt) && one.UpdatedAt.Equal(at(time.Minute))
		if one.Status != "SUBMITTED" || started != moved[i] || (!moved[i] && one.UpstreamID != "") {
			t.Fatalf("task %d after start: %+v", i, one)
		}
	}
	if moved, err := s.StartAITasks(ctx, "NOT_START", "SUBMITTED", starts[:1], at(time.Minute)); err != nil || moved[0] {
		t.Fatalf("second start = %v, %v", moved, err)
	}
}
