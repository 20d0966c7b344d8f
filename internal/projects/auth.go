package projects

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Service tokens. A service user (x-kms-user, lowercase letters and digits) of an account holds any
// number of tokens; each is a credential of kind kms whose key id is "<user>/<token id>" and whose
// secret is stored as a SHA-256 hash. The token sent in x-kms-token is "<token id>.<secret>": the
// lookup goes through the user, so a token is good only with the user it was issued to. A token
// has a scope (write: every call; read: the two read calls) kept in its label, can expire, and is
// revoked through the native API.

// Token scopes.
const (
	scopeWrite = "write"
	scopeRead  = "read"
)

// defaultTokenTTL is the life of a token made by `admin keys create --kind kms`.
const defaultTokenTTL = 365 * 24 * time.Hour

// serviceCaller is an authenticated service user.
type serviceCaller struct {
	account store.Account
	user    string
	scope   string
}

func scopeLabel(scope string) string { return "kms:" + scope }

func scopeOf(c store.Credential) string {
	if s, ok := strings.CutPrefix(c.Label, "kms:"); ok {
		return s
	}
	return ""
}

// verify checks the two headers. Every failure is errUnauthorized: which check failed is not told.
func (a *API) verify(ctx context.Context, user, token string) (serviceCaller, error) {
	if !kmsUserRe.MatchString(user) {
		return serviceCaller{}, auth.ErrUnauthorized
	}
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || secret == "" || len(token) > 256 {
		return serviceCaller{}, auth.ErrUnauthorized
	}
	keyID := user + "/" + id
	now := a.now()
	held, ok := a.tokens.Get(keyID, now)
	if !ok {
		seq := a.tokens.Begin()
		cred, err := a.st.GetCredential(ctx, store.CredKMS, keyID)
		if errors.Is(err, store.ErrNotFound) {
			return serviceCaller{}, auth.ErrUnauthorized
		}
		if err != nil {
			return serviceCaller{}, fmt.Errorf("look up service token: %w", err)
		}
		acct, err := a.st.GetAccount(ctx, cred.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			return serviceCaller{}, auth.ErrUnauthorized
		}
		if err != nil {
			return serviceCaller{}, fmt.Errorf("load the token's account: %w", err)
		}
		held = heldToken{cred: cred, account: acct}
		a.tokens.Add(keyID, acct.ID, seq, held, now)
	}
	// Expiry and revocation are checked on every call, against the cached row's times.
	if !auth.Live(held.cred, now) || subtle.ConstantTimeCompare(held.cred.SecretHash, auth.HashToken(secret)) != 1 {
		return serviceCaller{}, auth.ErrUnauthorized
	}
	return serviceCaller{account: held.account, user: user, scope: scopeOf(held.cred)}, nil
}

// heldToken is a token's row and its account, cached by key id (API.tokens): a revocation on this
// replica drops the account's entries at once, one on another replica shows within tokenCacheTTL.
type heldToken struct {
	cred    store.Credential
	account store.Account
}

const (
	tokenCacheSize = 4096
	tokenCacheTTL  = 30 * time.Second
)

// issuedToken is a new token, shown once.
type issuedToken struct {
	ID        int64      `json:"id"`
	User      string     `json:"x-kms-user"`
	Token     string     `json:"x-kms-token"`
	Scope     string     `json:"scope"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// issueToken makes a token for a service user of the account. ttl 0 never expires.
func (a *API) issueToken(ctx context.Context, accountID int64, user, scope string, ttl time.Duration) (issuedToken, error) {
	if !kmsUserRe.MatchString(user) {
		return issuedToken{}, fmt.Errorf("%w: user must be 1-64 lowercase letters and digits", engine.ErrInvalid)
	}
	if scope == "" {
		scope = scopeWrite
	}
	if scope != scopeWrite && scope != scopeRead {
		return issuedToken{}, fmt.Errorf("%w: scope must be write or read", engine.ErrInvalid)
	}
	if ttl < 0 {
		return issuedToken{}, fmt.Errorf("%w: ttl must not be negative", engine.ErrInvalid)
	}
	now := a.now()
	id, secret := auth.RandomHex(8), auth.RandomHex(24)
	c := store.Credential{AccountID: accountID, Kind: store.CredKMS, KeyID: user + "/" + id,
		SecretHash: auth.HashToken(secret), Label: scopeLabel(scope), CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		c.ExpiresAt = &exp
	}
	c, err := a.st.CreateCredential(ctx, c)
	if err != nil {
		return issuedToken{}, fmt.Errorf("issue service token for %s: %w", user, err)
	}
	return issuedToken{ID: c.ID, User: user, Token: id + "." + secret, Scope: scope, ExpiresAt: c.ExpiresAt}, nil
}

// KeyKind makes the facade the issuer of "kms" keys for the native API and
// `taskcenter admin keys create ID --kind kms --name USER`.
func (a *API) KeyKind() string { return "kms" }

// IssueKey makes a write token for service user name, living a year (the native API's
// /api/v1/projects/tokens makes tokens of another scope or life).
func (a *API) IssueKey(ctx context.Context, accountID int64, name string) (map[string]string, error) {
	t, err := a.issueToken(ctx, accountID, name, scopeWrite, defaultTokenTTL)
	if err != nil {
		return nil, err
	}
	return map[string]string{"x-kms-user": t.User, "x-kms-token": t.Token, "scope": t.Scope,
		"expires_at": t.ExpiresAt.UTC().Format(time.RFC3339)}, nil
}

// tokenInfo describes a token without its secret.
type tokenInfo struct {
	ID        int64      `json:"id"`
	User      string     `json:"x-kms-user"`
	Scope     string     `json:"scope"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func (a *API) listTokens(ctx context.Context, accountID int64) ([]tokenInfo, error) {
	cs, err := a.st.ListCredentials(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := []tokenInfo{}
	for _, c := range cs {
		if c.Kind != store.CredKMS {
			continue
		}
		user, _, _ := strings.Cut(c.KeyID, "/")
		out = append(out, tokenInfo{ID: c.ID, User: user, Scope: scopeOf(c), CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, RevokedAt: c.RevokedAt})
	}
	return out, nil
}

// revokeToken revokes a token of the account; another account's is not found.
func (a *API) revokeToken(ctx context.Context, accountID, id int64) error {
	cs, err := a.st.ListCredentials(ctx, accountID)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID == id && c.Kind == store.CredKMS {
			if err := a.st.RevokeCredential(ctx, id, a.now()); err != nil {
				return err
			}
			a.tokens.Drop(accountID)
			return nil
		}
	}
	return store.ErrNotFound
}
