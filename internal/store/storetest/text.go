package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testText: text PostgreSQL cannot keep (a NUL byte, invalid UTF-8) is refused by every driver with
// store.ErrInvalid, and nothing of the refused write lands.
func testText(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, bad := range []string{"a\x00b", "a\xffb"} {
		writes := []struct {
			name  string
			write func() error
			count func() int
		}{
			{"account name", func() error {
				_, err := s.CreateAccount(ctx, store.Account{Name: bad, Role: store.RoleUser, CreatedAt: t0, UpdatedAt: t0})
				return err
			}, func() int {
				as, err := s.ListAccounts(ctx, -1)
				must(t, err)
				return len(as)
			}},
			{"job name", func() error {
				_, err := s.CreateJob(ctx, store.Job{AccountID: 1, Kind: "text", Name: bad}, mkUnits(1, "shell"), t0)
				return err
			}, func() int {
				_, n, err := s.ListJobs(ctx, store.JobFilter{Kind: "text"})
				must(t, err)
				return n
			}},
			{"second unit's name", func() error {
				us := mkUnits(2, "shell")
				us[1].Name = bad
				_, err := s.CreateJob(ctx, store.Job{AccountID: 1, Kind: "text", Name: "fine"}, us, t0)
				return err
			}, func() int {
				_, n, err := s.ListJobs(ctx, store.JobFilter{Kind: "text"})
				must(t, err)
				return n
			}},
			{"unit spec", func() error {
				us := mkUnits(1, "shell")
				us[0].Spec = []byte(`{"arg":"` + bad + `"}`)
				_, err := s.CreateJob(ctx, store.Job{AccountID: 1, Kind: "text", Name: "fine"}, us, t0)
				return err
			}, func() int {
				_, n, err := s.ListJobs(ctx, store.JobFilter{Kind: "text"})
				must(t, err)
				return n
			}},
			{"worker name", func() error {
				_, err := s.RegisterWorker(ctx, store.Worker{Name: bad, Kind: "text"}, t0)
				return err
			}, func() int {
				ws, err := s.ListWorkers(ctx, "text")
				must(t, err)
				return len(ws)
			}},
			{"record key", func() error {
				_, err := s.PutRecord(ctx, store.Record{AccountID: 1, Kind: "text", Key: bad, Data: []byte(`{}`)}, t0)
				return err
			}, func() int {
				rs, _, err := s.ListRecords(ctx, store.RecordFilter{Kind: "text", ParentID: -1})
				must(t, err)
				return len(rs)
			}},
			{"nonce", func() error {
				_, err := s.UseNonce(ctx, "text", bad, t0.Add(time.Hour), t0)
				return err
			}, func() int { return 0 }},
		}
		for _, w := range writes {
			before := w.count()
			if err := w.write(); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s %q: err = %v, want ErrInvalid", w.name, bad, err)
			}
			if after := w.count(); after != before {
				t.Errorf("%s %q: %d rows before, %d after", w.name, bad, before, after)
			}
		}
	}
	// Text without either is kept as given.
	a, err := s.CreateAccount(ctx, store.Account{Name: "über \u2603", Role: store.RoleUser, CreatedAt: t0, UpdatedAt: t0})
	must(t, err)
	eq(t, "account name", a.Name, "über \u2603")
}
