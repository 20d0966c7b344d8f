package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return postgres.OpenTest(t) })
}

func TestNotifyListen(t *testing.T) {
	s := postgres.OpenTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 16)
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, "units-ready", func(p string) { got <- p }) }()

	// LISTEN starts asynchronously: notify until the first payload arrives.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case p := <-got:
			if p != "hello" {
				t.Fatalf("payload %q", p)
			}
			break wait
		case <-tick.C:
			if err := s.Notify(ctx, "units-ready", "hello"); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("no notification")
		}
	}
	// Drain the extra hellos up to a marker sent after them (notifications arrive in commit order), then
	// check that a notification inside a transaction is delivered on commit only, and a rolled-back one
	// never.
	tick.Stop()
	if err := s.Notify(ctx, "units-ready", "drained"); err != nil {
		t.Fatal(err)
	}
	for p := ""; p != "drained"; {
		select {
		case p = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the marker notification never arrived")
		}
	}
	err := s.InTx(ctx, func(tx store.Store) error {
		if err := tx.Notify(ctx, "units-ready", "rolled back"); err != nil {
			return err
		}
		return context.Canceled
	})
	if err == nil {
		t.Fatal("rollback expected")
	}
	if err := s.InTx(ctx, func(tx store.Store) error { return tx.Notify(ctx, "units-ready", "committed") }); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "committed" {
			t.Fatalf("payload %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after commit")
	}
	// Other topics are not delivered.
	if err := s.Notify(ctx, "other", "x"); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop")
	}
	if len(got) != 0 {
		t.Fatalf("unexpected payload %q", <-got)
	}
}

func BenchmarkLeaseComplete(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return postgres.OpenTest(b) })
}

func BenchmarkCreateJobs(b *testing.B) {
	storetest.BenchCreateJobs(b, func(b *testing.B) store.Store { return postgres.OpenTest(b) })
}

// TestNonceCommitSettingStaysLocal checks that the unflushed commit of a nonce batch is the batch's
// own: no pooled connection keeps synchronous_commit off afterwards, and inside a transaction a nonce
// leaves the transaction's commit as it was.
func TestNonceCommitSettingStaysLocal(t *testing.T) {
	s := postgres.OpenTest(t)
	ctx := context.Background()
	now := time.Now()
	for i := range 5 {
		fresh, err := s.UseNonce(ctx, "test", fmt.Sprint("n", i), now.Add(time.Minute), now)
		if err != nil || !fresh {
			t.Fatalf("nonce %d: fresh=%v, %v", i, fresh, err)
		}
	}
	conns := s.Pool().AcquireAllIdle(ctx)
	if len(conns) == 0 {
		t.Fatal("no idle connection after the nonces")
	}
	for _, c := range conns {
		var setting string
		err := c.QueryRow(ctx, "SHOW synchronous_commit").Scan(&setting)
		c.Release()
		if err != nil || setting != "on" {
			t.Errorf("a pooled connection has synchronous_commit %q (%v), want on", setting, err)
		}
	}

	err := s.InTx(ctx, func(tx store.Store) error {
		if fresh, err := tx.UseNonce(ctx, "test", "in-tx", now.Add(time.Minute), now); err != nil || !fresh {
			return fmt.Errorf("nonce in a transaction: fresh=%v, %w", fresh, err)
		}
		var setting string
		if err := tx.(*postgres.Store).Writer().QueryRow(ctx, "SHOW synchronous_commit").Scan(&setting); err != nil {
			return err
		}
		if setting != "on" {
			return fmt.Errorf("synchronous_commit %q inside the transaction after a nonce, want on", setting)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkUseAccountNonce(b *testing.B) {
	storetest.BenchUseAccountNonce(b, func(b *testing.B) store.Store { return postgres.OpenTest(b) })
}

func BenchmarkListJobTrees(b *testing.B) {
	storetest.BenchListJobTrees(b, func(b *testing.B) store.Store { return postgres.OpenTest(b) })
}
