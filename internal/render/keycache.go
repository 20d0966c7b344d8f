package render

import (
	"context"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
)

// cacheTTL is how long a looked-up accessId (with its opened accessKey) and a main account's list of
// sub-accounts serve signed requests without a database read. Every call is signed and every task
// query needs the sub-accounts, so without it each call reads both; a key revoked or a sub-account
// added in the store shows within this time.
const cacheTTL = 5 * time.Second

// cacheSize bounds each cache: the accessIds, or main accounts, in use at one time.
const cacheSize = 10_000

// expiring is a bounded LRU whose entries serve for cacheTTL after they were read. Expiry is checked
// against the API's clock when an entry is read, so tests with a fake clock see it.
type expiring[K comparable, V any] struct {
	c *lru.Cache[K, fetched[V]]
}

type fetched[V any] struct {
	v  V
	at time.Time
}

func newExpiring[K comparable, V any]() expiring[K, V] {
	c, err := lru.New[K, fetched[V]](cacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return expiring[K, V]{c}
}

// get returns the value read for k within cacheTTL of now (a clock that went back counts as stale).
func (e expiring[K, V]) get(k K, now time.Time) (V, bool) {
	if f, ok := e.c.Get(k); ok && now.Sub(f.at) < cacheTTL && now.Sub(f.at) >= 0 {
		return f.v, true
	}
	var zero V
	return zero, false
}

func (e expiring[K, V]) add(k K, v V, now time.Time) { e.c.Add(k, fetched[V]{v, now}) }

type openedKey struct {
	cred store.Credential
	key  []byte
}

// accessKey returns the live credential of accessID and its opened accessKey.
func (a *API) accessKey(ctx context.Context, accessID string, now time.Time) (store.Credential, []byte, error) {
	if k, ok := a.keyCache.get(accessID, now); ok {
		if !auth.Live(k.cred, now) {
			return store.Credential{}, nil, apiErr(CodeSignatureInvalid, "accessId is revoked or expired")
		}
		return k.cred, k.key, nil
	}
	cred, err := a.st.GetCredential(ctx, store.CredRender, accessID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, nil, apiErr(CodeSignatureInvalid, "unknown accessId")
	}
	if err != nil {
		return store.Credential{}, nil, fmt.Errorf("look up accessId: %w", err)
	}
	if !auth.Live(cred, now) {
		return store.Credential{}, nil, apiErr(CodeSignatureInvalid, "accessId is revoked or expired")
	}
	key, err := auth.OpenSealedKey(a.keys, cred)
	if err != nil {
		return store.Credential{}, nil, fmt.Errorf("open accessKey of %s: %w", cred.KeyID, err)
	}
	a.keyCache.add(accessID, openedKey{cred: cred, key: key}, now)
	return cred, key, nil
}

// subAccounts lists a main account's sub-accounts. Callers only read the list, so one copy is shared.
func (a *API) subAccounts(ctx context.Context, mainID int64, now time.Time) ([]store.Account, error) {
	if subs, ok := a.subCache.get(mainID, now); ok {
		return subs, nil
	}
	subs, err := a.st.ListAccounts(ctx, mainID)
	if err != nil {
		return nil, fmt.Errorf("list sub-accounts of %d: %w", mainID, err)
	}
	a.subCache.add(mainID, subs, now)
	return subs, nil
}
