package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"taskcenter/internal/store"
)

// conflict turns a unique violation into store.ErrConflict.
func (b *Base) conflict(err error) error {
	if err != nil && b.D.IsUnique(err) {
		return store.ErrConflict
	}
	return err
}

func (b *Base) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	out, err := scanAccount(b.w.QueryRow(ctx, `INSERT INTO accounts (parent_id, name, role, balance_milli, coupon_milli,
		credit_milli, quota, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING `+accountCols,
		a.ParentID, a.Name, string(a.Role), a.BalanceMilli, a.CouponMilli, a.CreditMilli, a.Quota, JSON(a.Settings),
		MS(a.CreatedAt), MS(a.UpdatedAt)))
	return out, wrap(b.conflict(err), "create account %q", a.Name)
}

func (b *Base) GetAccount(ctx context.Context, id int64) (store.Account, error) {
	a, err := scanAccount(b.r.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
	return a, wrap(err, "get account %d", id)
}

func (b *Base) GetAccountByName(ctx context.Context, name string) (store.Account, error) {
	a, err := scanAccount(b.r.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE name = $1`, name))
	return a, wrap(err, "get account %q", name)
}

func (b *Base) ListAccounts(ctx context.Context, parentID int64) ([]store.Account, error) {
	var as []store.Account
	var err error
	if parentID == -1 {
		as, err = all(scanAccount)(b.r.Query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY id`))
	} else {
		as, err = all(scanAccount)(b.r.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE parent_id = $1 ORDER BY id`,
			parentID))
	}
	return as, wrap(err, "list accounts")
}

// UpdateAccount writes Name, Role and Settings; UpdatedAt too when set.
func (b *Base) UpdateAccount(ctx context.Context, a store.Account) error {
	n, err := b.w.Exec(ctx, `UPDATE accounts SET name = $2, role = $3, settings = $4,
		updated_at = COALESCE(CAST($5 AS BIGINT), updated_at) WHERE id = $1`,
		a.ID, a.Name, string(a.Role), JSON(a.Settings), MSOrNil(a.UpdatedAt))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(b.conflict(err), "update account %d", a.ID)
}

// AdjustFunds applies the deltas in one guarded UPDATE. With requireNonNegative, each field the delta
// lowers must stay at or above zero; a field the delta raises is not checked, so a top-up of one
// field works even while another is in arrears.
func (b *Base) AdjustFunds(ctx context.Context, id int64, d store.FundsDelta, requireNonNegative bool, now time.Time) (store.Account, bool, error) {
	guard := ""
	if requireNonNegative {
		guard = ` AND (CAST($2 AS BIGINT) >= 0 OR balance_milli + $2 >= 0)
			AND (CAST($3 AS BIGINT) >= 0 OR coupon_milli + $3 >= 0)
			AND (CAST($4 AS BIGINT) >= 0 OR credit_milli + $4 >= 0) AND (CAST($5 AS BIGINT) >= 0 OR quota + $5 >= 0)`
	}
	a, err := scanAccount(b.w.QueryRow(ctx, `UPDATE accounts SET balance_milli = balance_milli + $2,
		coupon_milli = coupon_milli + $3, credit_milli = credit_milli + $4, quota = quota + $5, updated_at = $6
		WHERE id = $1`+guard+` RETURNING `+accountCols,
		id, d.BalanceMilli, d.CouponMilli, d.CreditMilli, d.Quota, MS(now)))
	if errors.Is(err, store.ErrNotFound) && requireNonNegative {
		// Either no such account or the guard refused: tell them apart.
		a, err = scanAccount(b.w.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
		if err == nil {
			return a, false, nil
		}
	}
	if err != nil {
		return a, false, wrap(err, "adjust funds of account %d", id)
	}
	return a, true, nil
}

func (b *Base) CreateCredential(ctx context.Context, c store.Credential) (store.Credential, error) {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	out, err := scanCredential(b.w.QueryRow(ctx, `INSERT INTO credentials (account_id, kind, key_id, secret_hash,
		secret_sealed, label, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING `+credentialCols,
		c.AccountID, string(c.Kind), c.KeyID, c.SecretHash, c.SecretSealed, c.Label, MS(c.CreatedAt),
		MSPtr(c.ExpiresAt), MSPtr(c.RevokedAt)))
	return out, wrap(b.conflict(err), "create %s credential %q", c.Kind, c.KeyID)
}

func (b *Base) GetCredential(ctx context.Context, kind store.CredentialKind, keyID string) (store.Credential, error) {
	c, err := scanCredential(b.r.QueryRow(ctx, `SELECT `+credentialCols+` FROM credentials
		WHERE kind = $1 AND key_id = $2`, string(kind), keyID))
	return c, wrap(err, "get %s credential %q", kind, keyID)
}

func (b *Base) ListCredentials(ctx context.Context, accountID int64) ([]store.Credential, error) {
	cs, err := all(scanCredential)(b.r.Query(ctx, `SELECT `+credentialCols+` FROM credentials WHERE account_id = $1 ORDER BY id`,
		accountID))
	return cs, wrap(err, "list credentials of account %d", accountID)
}

// RevokeCredential keeps the first revocation time when revoked twice.
func (b *Base) RevokeCredential(ctx context.Context, id int64, now time.Time) error {
	n, err := b.w.Exec(ctx, `UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, MS(now))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "revoke credential %d", id)
}

// UseNonce inserts the nonce, or takes over an expired row of the same nonce; a live row is a replay.
// Every signed request of the dialects writes one, so concurrent calls share one INSERT (batch.Group)
// instead of committing one each.
func (b *Base) UseNonce(ctx context.Context, scope, nonce string, expires, now time.Time) (bool, error) {
	used, err := b.useNonce(ctx, nonceUse{scope: scope, nonce: nonce, expires: expires, now: now})
	return used.fresh, err
}

func (b *Base) UseAccountNonce(ctx context.Context, accountID int64, scope, nonce string, expires, now time.Time) (bool, store.Account, error) {
	used, err := b.useNonce(ctx, nonceUse{scope: scope, nonce: nonce, expires: expires, now: now, account: accountID})
	if err == nil && used.fresh && used.acct.ID == 0 {
		err = fmt.Errorf("get account %d: %w", accountID, store.ErrNotFound)
	}
	return used.fresh, used.acct, err
}

func (b *Base) useNonce(ctx context.Context, use nonceUse) (nonceUsed, error) {
	// Refused here, alone, rather than in the write: a batch fails as a whole.
	if err := CheckText([]any{use.scope, use.nonce}); err != nil {
		return nonceUsed{}, err
	}
	if b.nonces == nil { // bound to a transaction: write in it
		used, err := b.useNonces(ctx, []nonceUse{use})
		if err != nil {
			return nonceUsed{}, err
		}
		return used[0], nil
	}
	return b.nonces.Do(ctx, use)
}

type nonceUse struct {
	scope, nonce string
	expires, now time.Time
	account      int64 // the signer, read when the nonce is fresh; 0 for none
}

type nonceUsed struct {
	fresh bool
	acct  store.Account // the signer; zero when not asked for, not fresh, or not found
}

// nonceBatchSize bounds the rows of one nonce INSERT.
const nonceBatchSize = 256

// useNonces records nonces in one statement and reports which were fresh. A nonce that is already
// recorded and not yet expired is not fresh, nor is a repeat of one earlier in the same batch. The
// signers of the fresh ones are then read in one more statement.
//
// Outside a transaction the statement commits without waiting for its log flush
// (Dialect.UnflushedCommit): a crash may forget the nonces of its last moments. A request that goes
// on to change anything commits after its nonce, and the flush of that commit carries the nonce
// along, so what a crash can forget is only the nonce of a request that changed nothing; its replay
// inside the window reads, as the original did. Waiting for the flush took some 45% of a nonce's time
// on PostgreSQL (BenchmarkUseAccountNonce, docs/performance.md).
func (b *Base) useNonces(ctx context.Context, uses []nonceUse) ([]nonceUsed, error) {
	type key struct{ scope, nonce string }
	first := make(map[key]int, len(uses))
	var a Args
	rows := make([]string, 0, len(uses))
	var latest time.Time
	for i, u := range uses {
		k := key{u.scope, u.nonce}
		if _, seen := first[k]; seen {
			continue // a statement may not hit one row twice
		}
		first[k] = i
		rows = append(rows, "("+a.Add(u.scope)+", "+a.Add(u.nonce)+", CAST("+a.Add(MS(u.expires))+" AS BIGINT))")
		if u.now.After(latest) {
			latest = u.now
		}
	}
	src := `VALUES ` + strings.Join(rows, ", ")
	// Not inside a transaction: the setting would hold for the caller's other writes.
	if cond := b.D.UnflushedCommit(); cond != "" && !b.InTransaction() {
		src = `SELECT column1, column2, column3 FROM (` + src + `) AS n WHERE ` + cond
	}
	used := make([]nonceUsed, len(uses))
	rs, err := b.w.Query(ctx, `INSERT INTO nonces (scope, nonce, expires) `+src+`
		ON CONFLICT (scope, nonce) DO UPDATE SET expires = excluded.expires WHERE nonces.expires <= `+a.Add(MS(latest))+`
		RETURNING scope, nonce`, a.Vals...)
	if err != nil {
		return nil, fmt.Errorf("use nonces: %w", err)
	}
	var accounts []int64
	err = each(rs, func(r Row) (key, error) {
		var k key
		err := r.Scan(&k.scope, &k.nonce)
		return k, err
	}, func(k key) {
		i := first[k]
		used[i].fresh = true
		if id := uses[i].account; id != 0 && !slices.Contains(accounts, id) {
			accounts = append(accounts, id)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("use nonces: %w", err)
	}
	if len(accounts) == 0 {
		return used, nil
	}
	// The signers are read after the write, as a request would read its account after its nonce; on
	// SQLite by a reading connection, which leaves the writer to the next batch.
	a = Args{}
	byID := make(map[int64]store.Account, len(accounts))
	rs, err = b.r.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+b.D.InInt64s(&a, "id", accounts, false), a.Vals...)
	if err == nil {
		err = each(rs, scanAccount, func(acct store.Account) { byID[acct.ID] = acct })
	}
	if err != nil {
		return nil, fmt.Errorf("read the signers of nonces: %w", err)
	}
	for i := range used {
		if used[i].fresh {
			used[i].acct = byID[uses[i].account]
		}
	}
	return used, nil
}

func (b *Base) PurgeNonces(ctx context.Context, now time.Time) (int64, error) {
	n, err := b.w.Exec(ctx, `DELETE FROM nonces WHERE expires <= $1`, MS(now))
	if err != nil {
		return n, wrap(err, "purge nonces")
	}
	_, err = b.w.Exec(ctx, `DELETE FROM counters WHERE expires <= $1`, MS(now))
	return n, wrap(err, "purge counters")
}

// AddCounter is one upsert: both SET expressions read the row as it was, so an expired counter
// restarts from delta with the new expiry and a live one grows and keeps its own.
func (b *Base) AddCounter(ctx context.Context, scope, name string, delta int64, expires, now time.Time) (int64, time.Time, error) {
	var v, until int64
	err := b.w.QueryRow(ctx, `INSERT INTO counters (scope, name, value, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (scope, name) DO UPDATE SET
			value = CASE WHEN counters.expires <= $5 THEN excluded.value ELSE counters.value + excluded.value END,
			expires = CASE WHEN counters.expires <= $5 THEN excluded.expires ELSE counters.expires END
		RETURNING value, expires`, scope, name, delta, MS(expires), MS(now)).Scan(&v, &until)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("add to counter %s/%s: %w", scope, name, err)
	}
	return v, Time(until), nil
}

func (b *Base) GetCounter(ctx context.Context, scope, name string, now time.Time) (int64, time.Time, error) {
	var v, until int64
	err := b.r.QueryRow(ctx, `SELECT value, expires FROM counters WHERE scope = $1 AND name = $2 AND expires > $3`,
		scope, name, MS(now)).Scan(&v, &until)
	if errors.Is(notFound(err), store.ErrNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("get counter %s/%s: %w", scope, name, err)
	}
	return v, Time(until), nil
}

func (b *Base) DeleteCounter(ctx context.Context, scope, name string) error {
	_, err := b.w.Exec(ctx, `DELETE FROM counters WHERE scope = $1 AND name = $2`, scope, name)
	return wrap(err, "delete counter %s/%s", scope, name)
}
