package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	main, err := s.CreateAccount(ctx, store.Account{Name: "acme", Role: store.RoleAdmin, BalanceMilli: 5,
		Settings: []byte(`{"a":1}`), CreatedAt: t0, UpdatedAt: t0})
	must(t, err)
	if main.ID == 0 || main.Name != "acme" || main.Role != store.RoleAdmin || main.BalanceMilli != 5 ||
		!main.CreatedAt.Equal(t0) {
		t.Fatalf("created %+v", main)
	}
	jsonEq(t, "settings", main.Settings, `{"a":1}`)
	_, err = s.CreateAccount(ctx, store.Account{Name: "acme", CreatedAt: t0})
	mustIs(t, err, store.ErrConflict)
	sub, err := s.CreateAccount(ctx, store.Account{Name: "acme-sub", ParentID: main.ID, Role: store.RoleUser,
		CreatedAt: t0})
	must(t, err)

	got, err := s.GetAccount(ctx, main.ID)
	must(t, err)
	eq(t, "name", got.Name, "acme")
	eq(t, "created", got.CreatedAt, t0)
	got, err = s.GetAccountByName(ctx, "acme-sub")
	must(t, err)
	eq(t, "id", got.ID, sub.ID)
	_, err = s.GetAccount(ctx, 9999)
	mustIs(t, err, store.ErrNotFound)
	_, err = s.GetAccountByName(ctx, "nobody")
	mustIs(t, err, store.ErrNotFound)

	for _, tc := range []struct {
		parent int64
		want   int
	}{{-1, 2}, {0, 1}, {main.ID, 1}, {sub.ID, 0}} {
		as, err := s.ListAccounts(ctx, tc.parent)
		must(t, err)
		eq(t, "accounts under parent", len(as), tc.want)
	}

	sub.Name, sub.Role, sub.Settings = "acme-child", store.RoleAdmin, []byte(`{"b":2}`)
	must(t, s.UpdateAccount(ctx, sub))
	got, err = s.GetAccount(ctx, sub.ID)
	must(t, err)
	eq(t, "renamed", got.Name, "acme-child")
	eq(t, "role", got.Role, store.RoleAdmin)
	jsonEq(t, "settings", got.Settings, `{"b":2}`)
	sub.Name = "acme"
	mustIs(t, s.UpdateAccount(ctx, sub), store.ErrConflict)
	mustIs(t, s.UpdateAccount(ctx, store.Account{ID: 9999, Name: "x"}), store.ErrNotFound)
}

func testAdjustFunds(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, err := s.CreateAccount(ctx, store.Account{Name: "payer", BalanceMilli: 100, CouponMilli: 10, CreditMilli: 0,
		Quota: 3, CreatedAt: t0})
	must(t, err)
	// Each step applies to the result of the previous ones.
	steps := []struct {
		name       string
		d          store.FundsDelta
		guard      bool
		wantOK     bool
		wantBal    int64
		wantCoupon int64
		wantQuota  int64
	}{
		{"charge within balance", store.FundsDelta{BalanceMilli: -60}, true, true, 40, 10, 3},
		{"charge beyond balance refused", store.FundsDelta{BalanceMilli: -41}, true, false, 40, 10, 3},
		{"coupon beyond refused, balance untouched", store.FundsDelta{BalanceMilli: -1, CouponMilli: -11}, true, false, 40, 10, 3},
		{"unguarded charge may go negative", store.FundsDelta{BalanceMilli: -50}, false, true, -10, 10, 3},
		{"top-up of another field while in arrears", store.FundsDelta{CouponMilli: 5}, true, true, -10, 15, 3},
		{"quota use", store.FundsDelta{Quota: -3}, true, true, -10, 15, 0},
		{"quota overuse refused", store.FundsDelta{Quota: -1}, true, false, -10, 15, 0},
		{"top-up", store.FundsDelta{BalanceMilli: 30, Quota: 2}, true, true, 20, 15, 2},
	}
	for _, st := range steps {
		got, ok, err := s.AdjustFunds(ctx, a.ID, st.d, st.guard, at(time.Minute))
		must(t, err)
		if ok != st.wantOK || got.BalanceMilli != st.wantBal || got.CouponMilli != st.wantCoupon || got.Quota != st.wantQuota {
			t.Fatalf("%s: ok=%v balance=%d coupon=%d quota=%d, want %v %d %d %d", st.name, ok, got.BalanceMilli,
				got.CouponMilli, got.Quota, st.wantOK, st.wantBal, st.wantCoupon, st.wantQuota)
		}
	}
	_, _, err = s.AdjustFunds(ctx, 9999, store.FundsDelta{BalanceMilli: -1}, true, t0)
	mustIs(t, err, store.ErrNotFound)
	_, _, err = s.AdjustFunds(ctx, 9999, store.FundsDelta{BalanceMilli: 1}, false, t0)
	mustIs(t, err, store.ErrNotFound)
}

func testCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "cred")
	exp := at(time.Hour)
	c, err := s.CreateCredential(ctx, store.Credential{AccountID: a.ID, Kind: store.CredRender, KeyID: "AK1",
		SecretSealed: []byte{1, 2, 3}, Label: "main", CreatedAt: t0, ExpiresAt: &exp})
	must(t, err)
	if c.ID == 0 || c.SecretHash != nil || !bytes.Equal(c.SecretSealed, []byte{1, 2, 3}) {
		t.Fatalf("created %+v", c)
	}
	timeEq(t, "expires", c.ExpiresAt, &exp)
	_, err = s.CreateCredential(ctx, store.Credential{AccountID: a.ID, Kind: store.CredRender, KeyID: "AK1",
		SecretHash: []byte{9}, CreatedAt: t0})
	mustIs(t, err, store.ErrConflict)
	// The same key id under another kind is a different credential.
	_, err = s.CreateCredential(ctx, store.Credential{AccountID: a.ID, Kind: store.CredRPA, KeyID: "AK1",
		SecretHash: []byte{9}, CreatedAt: t0})
	must(t, err)

	got, err := s.GetCredential(ctx, store.CredRender, "AK1")
	must(t, err)
	eq(t, "id", got.ID, c.ID)
	eq(t, "label", got.Label, "main")
	if got.RevokedAt != nil {
		t.Fatal("revoked before revocation")
	}
	_, err = s.GetCredential(ctx, store.CredKMS, "AK1")
	mustIs(t, err, store.ErrNotFound)
	cs, err := s.ListCredentials(ctx, a.ID)
	must(t, err)
	eq(t, "credentials", len(cs), 2)

	must(t, s.RevokeCredential(ctx, c.ID, at(time.Minute)))
	must(t, s.RevokeCredential(ctx, c.ID, at(time.Hour))) // keeps the first time
	got, err = s.GetCredential(ctx, store.CredRender, "AK1")
	must(t, err)
	timeEq(t, "revoked", got.RevokedAt, ptr(at(time.Minute)))
	mustIs(t, s.RevokeCredential(ctx, 9999, t0), store.ErrNotFound)
}

func testNonces(t *testing.T, s store.Store) {
	ctx := context.Background()
	steps := []struct {
		name         string
		scope, nonce string
		expires, now time.Time
		fresh        bool
	}{
		{"first use", "render", "n1", at(time.Minute), t0, true},
		{"replay", "render", "n1", at(2 * time.Minute), at(time.Second), false},
		{"other scope", "rpa", "n1", at(time.Minute), at(time.Second), true},
		{"after expiry", "render", "n1", at(3 * time.Minute), at(time.Minute), true},
		{"replay of renewed", "render", "n1", at(4 * time.Minute), at(2 * time.Minute), false},
	}
	for _, st := range steps {
		fresh, err := s.UseNonce(ctx, st.scope, st.nonce, st.expires, st.now)
		must(t, err)
		if fresh != st.fresh {
			t.Fatalf("%s: fresh = %v", st.name, fresh)
		}
	}
	n, err := s.PurgeNonces(ctx, at(2*time.Minute))
	must(t, err)
	eq(t, "purged", n, int64(1)) // rpa/n1; render/n1 now expires at +3m
	n, err = s.PurgeNonces(ctx, at(time.Hour))
	must(t, err)
	eq(t, "purged", n, int64(1))

	// Concurrent uses are written together: of 20 callers presenting one nonce exactly one gets it,
	// and 20 callers with nonces of their own all do.
	var fresh, own atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if ok, err := s.UseNonce(ctx, "render", "shared", at(time.Minute), t0); err != nil {
				t.Error(err)
			} else if ok {
				fresh.Add(1)
			}
			if ok, err := s.UseNonce(ctx, "render", fmt.Sprintf("own-%d", i), at(time.Minute), t0); err != nil {
				t.Error(err)
			} else if ok {
				own.Add(1)
			}
		})
	}
	wg.Wait()
	eq(t, "fresh uses of one nonce", fresh.Load(), int64(1))
	eq(t, "fresh uses of own nonces", own.Load(), int64(20))

	// Inside a transaction the nonce is written with it, and gone if it rolls back.
	err = s.InTx(ctx, func(tx store.Store) error {
		ok, err := tx.UseNonce(ctx, "render", "in-tx", at(time.Minute), t0)
		must(t, err)
		eq(t, "fresh in a transaction", ok, true)
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("InTx: the rollback was not reported")
	}
	ok, err := s.UseNonce(ctx, "render", "in-tx", at(time.Minute), t0)
	must(t, err)
	eq(t, "fresh after a rolled back use", ok, true)
}

func testAccountNonces(t *testing.T, s store.Store) {
	ctx := context.Background()
	a1, err := s.CreateAccount(ctx, store.Account{Name: "signer-1", Role: store.RoleUser, BalanceMilli: 1500, Settings: json.RawMessage(`{"zone":1}`)})
	must(t, err)
	a2, err := s.CreateAccount(ctx, store.Account{Name: "signer-2", Role: store.RoleUser})
	must(t, err)
	// The account is read after the nonce, so a change made before the call shows.
	a1, _, err = s.AdjustFunds(ctx, a1.ID, store.FundsDelta{BalanceMilli: 500}, false, t0)
	must(t, err)

	fresh, got, err := s.UseAccountNonce(ctx, a1.ID, "render:AK1", "n1", at(time.Minute), t0)
	must(t, err)
	if !fresh || got.ID != a1.ID || got.Name != "signer-1" || got.BalanceMilli != 2000 || string(got.Settings) != `{"zone":1}` {
		t.Fatalf("first use: fresh %v, account %+v", fresh, got)
	}
	fresh, got, err = s.UseAccountNonce(ctx, a1.ID, "render:AK1", "n1", at(time.Minute), at(time.Second))
	must(t, err)
	if fresh || got.ID != 0 {
		t.Fatalf("replay: fresh %v, account %+v", fresh, got)
	}
	_, _, err = s.UseAccountNonce(ctx, 9999, "render:AK9", "n1", at(time.Minute), t0)
	mustIs(t, err, store.ErrNotFound)

	// Concurrent signers share the batch: each gets its own account, and a replay none.
	var wg sync.WaitGroup
	var fresh1 atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			want := []store.Account{a1, a2}[i%2]
			fresh, got, err := s.UseAccountNonce(ctx, want.ID, fmt.Sprintf("render:AK%d", want.ID), fmt.Sprintf("c-%d", i), at(time.Minute), t0)
			if err != nil || !fresh || got.ID != want.ID || got.Name != want.Name {
				t.Errorf("signer %d: fresh %v, account %+v, error %v", i, fresh, got, err)
			}
			fresh, got, err = s.UseAccountNonce(ctx, a1.ID, "render:AK1", "shared", at(time.Minute), t0)
			if err != nil || (fresh && got.ID != a1.ID) || (!fresh && got.ID != 0) {
				t.Errorf("shared nonce: fresh %v, account %+v, error %v", fresh, got, err)
			}
			if fresh {
				fresh1.Add(1)
			}
		})
	}
	wg.Wait()
	eq(t, "fresh uses of one nonce", fresh1.Load(), int64(1))

	// Inside a transaction the account is read in it.
	err = s.InTx(ctx, func(tx store.Store) error {
		if _, _, err := tx.AdjustFunds(ctx, a2.ID, store.FundsDelta{CouponMilli: 70}, false, t0); err != nil {
			return err
		}
		fresh, got, err := tx.UseAccountNonce(ctx, a2.ID, "render:AK2", "in-tx", at(time.Minute), t0)
		if err != nil || !fresh || got.CouponMilli != 70 {
			t.Errorf("in a transaction: fresh %v, account %+v, error %v", fresh, got, err)
		}
		return nil
	})
	must(t, err)
}

func testCounters(t *testing.T, s store.Store) {
	ctx := context.Background()
	steps := []struct {
		name      string
		op        string // add, get, delete
		counter   string
		delta     int64
		expires   time.Time
		now       time.Time
		wantValue int64
		wantUntil time.Time
	}{
		{"absent reads zero", "get", "a", 0, time.Time{}, t0, 0, time.Time{}},
		{"first add starts the window", "add", "a", 1, at(time.Minute), t0, 1, at(time.Minute)},
		{"live add keeps its expiry", "add", "a", 2, at(time.Hour), at(time.Second), 3, at(time.Minute)},
		{"other name apart", "add", "b", 5, at(time.Minute), at(time.Second), 5, at(time.Minute)},
		{"get live", "get", "a", 0, time.Time{}, at(30 * time.Second), 3, at(time.Minute)},
		{"expired reads zero", "get", "a", 0, time.Time{}, at(time.Minute), 0, time.Time{}},
		{"expired restarts", "add", "a", 1, at(3 * time.Minute), at(2 * time.Minute), 1, at(3 * time.Minute)},
		{"delete", "delete", "a", 0, time.Time{}, at(2 * time.Minute), 0, time.Time{}},
		{"deleted reads zero", "get", "a", 0, time.Time{}, at(2 * time.Minute), 0, time.Time{}},
		{"delete absent", "delete", "nope", 0, time.Time{}, t0, 0, time.Time{}},
		{"after delete restarts", "add", "a", 1, at(4 * time.Minute), at(2 * time.Minute), 1, at(4 * time.Minute)},
	}
	for _, st := range steps {
		var v int64
		var until time.Time
		var err error
		switch st.op {
		case "add":
			v, until, err = s.AddCounter(ctx, "login", st.counter, st.delta, st.expires, st.now)
		case "get":
			v, until, err = s.GetCounter(ctx, "login", st.counter, st.now)
		case "delete":
			err = s.DeleteCounter(ctx, "login", st.counter)
		}
		must(t, err)
		if v != st.wantValue || !until.Equal(st.wantUntil) {
			t.Fatalf("%s: value %d until %v, want %d until %v", st.name, v, until, st.wantValue, st.wantUntil)
		}
	}
	// Another scope is another counter.
	v, _, err := s.GetCounter(ctx, "other", "b", at(time.Second))
	must(t, err)
	eq(t, "other scope", v, int64(0))

	// Concurrent adds are all counted.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := s.AddCounter(ctx, "login", "c", 1, at(time.Hour), t0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	v, _, err = s.GetCounter(ctx, "login", "c", t0)
	must(t, err)
	eq(t, "concurrent adds", v, int64(20))

	// Purging drops the expired counters (b expired at +1m), not the live ones.
	_, err = s.PurgeNonces(ctx, at(5*time.Minute))
	must(t, err)
	v, _, err = s.GetCounter(ctx, "login", "c", t0)
	must(t, err)
	eq(t, "live after purge", v, int64(20))
	v, _, err = s.AddCounter(ctx, "login", "b", 1, at(time.Hour), t0)
	must(t, err)
	eq(t, "purged counter restarts", v, int64(1))
}
