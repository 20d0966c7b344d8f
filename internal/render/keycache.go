package render

import (
	"context"
	"errors"
	"fmt"
	"time"

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

type openedKey struct {
	cred store.Credential
	key  []byte
}

// accessKey returns the live credential of accessID and its opened accessKey.
func (a *API) accessKey(ctx context.Context, accessID string, now time.Time) (openedKey, error) {
	if k, ok := a.keyCache.Get(accessID, now); ok {
		if !auth.Live(k.cred, now) {
			return openedKey{}, apiErr(CodeSignatureInvalid, "accessId is revoked or expired")
		}
		return k, nil
	}
	seq := a.keyCache.Begin()
	cred, err := a.st.GetCredential(ctx, store.CredRender, accessID)
	if errors.Is(err, store.ErrNotFound) {
		return openedKey{}, apiErr(CodeSignatureInvalid, "unknown accessId")
	}
	if err != nil {
		return openedKey{}, fmt.Errorf("look up accessId: %w", err)
	}
	if !auth.Live(cred, now) {
		return openedKey{}, apiErr(CodeSignatureInvalid, "accessId is revoked or expired")
	}
	key, err := auth.OpenSealedKey(a.keys, cred)
	if err != nil {
		return openedKey{}, fmt.Errorf("open accessKey of %s: %w", cred.KeyID, err)
	}
	k := openedKey{cred: cred, key: key}
	a.keyCache.Add(accessID, cred.AccountID, seq, k, now)
	return k, nil
}

// subAccounts lists a main account's sub-accounts. Callers only read the list, so one copy is shared.
func (a *API) subAccounts(ctx context.Context, mainID int64, now time.Time) ([]store.Account, error) {
	if subs, ok := a.subCache.Get(mainID, now); ok {
		return subs, nil
	}
	seq := a.subCache.Begin()
	subs, err := a.st.ListAccounts(ctx, mainID)
	if err != nil {
		return nil, fmt.Errorf("list sub-accounts of %d: %w", mainID, err)
	}
	a.subCache.Add(mainID, mainID, seq, subs, now)
	return subs, nil
}
