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

// keyCacheTTL is how long a looked-up accessId and its opened accessKey serve signed requests without
// a database read. Every call is signed, so without it each one reads and unseals the credential;
// a key revoked in the store stops working within this time.
const keyCacheTTL = 5 * time.Second

// keyCacheSize bounds the cache: the accessIds in use at one time.
const keyCacheSize = 10_000

type cachedKey struct {
	cred    store.Credential
	key     []byte
	fetched time.Time
}

// newKeyCache makes the accessId cache.
func newKeyCache() *lru.Cache[string, cachedKey] {
	c, err := lru.New[string, cachedKey](keyCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
}

// accessKey returns the live credential of accessID and its opened accessKey.
func (a *API) accessKey(ctx context.Context, accessID string, now time.Time) (store.Credential, []byte, error) {
	if k, ok := a.keyCache.Get(accessID); ok && now.Sub(k.fetched) < keyCacheTTL && now.Sub(k.fetched) >= 0 {
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
	a.keyCache.Add(accessID, cachedKey{cred: cred, key: key, fetched: now})
	return cred, key, nil
}
