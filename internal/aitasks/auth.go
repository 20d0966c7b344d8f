package aitasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// keyPrefix begins every API key, as new-api's do.
const keyPrefix = "sk-"

// errUnauthorized: no credential, or one that is unknown, revoked or expired.
var errUnauthorized = errors.New("unauthorized")

// errKeyDisabled and errKeyExpired refuse a known key that may not be used.
var (
	errKeyDisabled = errors.New("key disabled")
	errKeyExpired  = errors.New("key expired")
)

// hashKey is how an API key is kept and found: keys are random, so a plain SHA-256 suffices.
func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// newKey makes an API key: "sk-" and 48 random hex digits, as long as new-api's.
func newKey() string { return keyPrefix + auth.RandomHex(24) }

// bearer reads the Authorization header; a bare value without "Bearer " is accepted as new-api does.
func bearer(r *http.Request) string {
	if t := facade.Bearer(r); t != "" {
		return t
	}
	return strings.TrimSpace(r.Header.Get("Authorization"))
}

// userOf resolves a personal access token to its user (the task lists).
func (a *API) userOf(ctx context.Context, r *http.Request) (store.AIUser, error) {
	tok := bearer(r)
	if tok == "" {
		return store.AIUser{}, errUnauthorized
	}
	// A token seen lately is not looked up again for CacheTTL (a revoked token is refused by every
	// replica within it).
	h, now := hashKey(tok), time.Now()
	if u, ok := a.users.Get(h, now); ok {
		return u, nil
	}
	seq := a.users.Begin()
	u, err := a.verifyToken(ctx, tok)
	if err == nil {
		a.users.Add(h, u.TenantID, seq, u, now)
	}
	return u, err
}

func (a *API) verifyToken(ctx context.Context, tok string) (store.AIUser, error) {
	c, err := auth.VerifyToken(ctx, a.st, CredToken, tok, a.now())
	if errors.Is(err, auth.ErrUnauthorized) {
		return store.AIUser{}, errUnauthorized
	}
	if err != nil {
		return store.AIUser{}, err
	}
	u, err := a.st.GetAIUserByAccount(ctx, c.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return store.AIUser{}, errUnauthorized
	}
	return u, err
}

// caller is who calls the relay: the user and the key used.
type caller struct {
	user store.AIUser
	key  store.AIKey
}

// keyOf resolves an API key to its user, refusing a disabled or expired key.
func (a *API) keyOf(ctx context.Context, r *http.Request) (caller, error) {
	tok := bearer(r)
	if !strings.HasPrefix(tok, keyPrefix) {
		tok = keyPrefix + tok // new-api takes keys with or without their prefix
	}
	if len(tok) <= len(keyPrefix) || len(tok) > 128 {
		return caller{}, errUnauthorized
	}
	hash := hashKey(tok)
	now := time.Now()
	c, ok := a.callers.Get(hash, now)
	if !ok {
		seq := a.callers.Begin()
		var err error
		if c, err = a.lookupKey(ctx, hash); err != nil {
			return caller{}, err
		}
		a.callers.Add(hash, c.user.TenantID, seq, c, now)
	}
	switch {
	case !c.key.Enabled:
		return caller{}, errKeyDisabled
	case c.key.ExpiresAt != nil && !a.now().Before(*c.key.ExpiresAt):
		return caller{}, errKeyExpired
	}
	return c, nil
}

// lookupKey reads the key of hash and its user.
func (a *API) lookupKey(ctx context.Context, hash string) (caller, error) {
	k, err := a.st.GetAIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return caller{}, errUnauthorized
	}
	if err != nil {
		return caller{}, err
	}
	u, err := a.st.GetAIUser(ctx, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return caller{}, errUnauthorized
	}
	if err != nil {
		return caller{}, err
	}
	return caller{user: u, key: k}, nil
}
