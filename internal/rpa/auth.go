package rpa

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// caller is who a signed request comes from.
type caller struct {
	accountID int64
	user      rec[userDoc] // zero for a job token
	role      roleDoc
	job       *jobScope // set for a job-scoped token: a robot running a job
	tokenKey  string    // the credential key id of the token used
}

// jobScope is what a job-scoped token may touch: the assets of its robot while its unit runs.
type jobScope struct {
	UnitID   int64  `json:"unit"`
	Epoch    int64  `json:"epoch"`
	JobID    int64  `json:"job"`
	WorkerID int64  `json:"worker"`
	Robot    string `json:"robot"`
	ProcCode string `json:"proc"`
	OrgCode  string `json:"org"`
}

// tokenLabel is kept in the credential's label: whose token it is and its pair.
type tokenLabel struct {
	UserID  int64     `json:"u,omitempty"`
	Pair    string    `json:"pair,omitempty"` // the refresh token's key id for an access token, and back
	Job     *jobScope `json:"job,omitempty"`
	Account int64     `json:"a"`
}

func (c *caller) can(perm string) bool {
	return c.job == nil && (c.role.Admin || slices.Contains(c.role.Perms, perm))
}

func (c *caller) require(perm string) error {
	if !c.can(perm) {
		return fail(CodeForbidden, "role %q may not do this", c.role.RoleName)
	}
	return nil
}

// org is the caller's department; a job token sees what its process's department sees.
func (c *caller) org() string {
	if c.job != nil {
		return c.job.OrgCode
	}
	return c.user.Doc.OrgCode
}

func (c *caller) userName() string {
	if c.job != nil {
		return c.job.Robot
	}
	return c.user.Doc.UserName
}

// call is one request being served.
type call struct {
	caller  *caller
	p       params
	w       http.ResponseWriter
	r       *http.Request
	wrote   bool // the handler wrote the response itself (file download)
	cleanup func()
}

// tokenKeyID names the credential of a token without keeping the token: the key id is derived from
// the token's hash, so the database alone cannot reproduce a token (the HMAC key of every request).
func tokenKeyID(prefix, token string) string {
	h := sha256.Sum256([]byte(token))
	return prefix + hex.EncodeToString(h[:20])
}

// newToken makes a UUID-shaped random token, as the document's examples look.
func newToken() string {
	h := auth.RandomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + h[16:20] + "-" + h[20:32]
}

// signingKey is what a token resolves to for signing: its caller, and the token itself, the HMAC key.
type signingKey struct {
	caller *caller
	token  string
}

// signedMsg is what a signature may be made over: the request's parameter sources (sorted
// parameters or the raw body), its timestamp and signature as sent.
type signedMsg struct {
	sources []string
	ts, sig string
}

// newSigned is the document's signature rule on the kit's skeleton: timestamp in Unix milliseconds
// within ±5 minutes, the access token resolved to its caller, any parameter source signed with
// SignRequest, and timestamp + signature spent once per token.
func (a *API) newSigned() *facade.Signed[signingKey, signedMsg, struct{}] {
	return &facade.Signed[signingKey, signedMsg, struct{}]{
		Window: timestampWindow, Unit: time.Millisecond, Now: a.now,
		Lookup: func(ctx context.Context, token string, now time.Time) (signingKey, error) {
			c, err := a.caller(ctx, token, now)
			return signingKey{caller: c, token: token}, err
		},
		Canonical: func(k signingKey, m signedMsg, i int) (string, bool, error) {
			if i >= len(m.sources) {
				return "", false, nil
			}
			return SignatureSource(m.sources[i], k.token, m.ts), true, nil
		},
		Sign: func(k signingKey, msg string) string { return Sign(k.token, msg) },
		// A signature is good for one request: a replay inside the window is refused. The scope is
		// the token's key id rather than the token itself, so that the nonce table holds no usable
		// secret.
		Spend: func(ctx context.Context, k signingKey, m signedMsg, o facade.Opened[signingKey]) (struct{}, bool, error) {
			fresh, err := a.st.UseNonce(ctx, "rpa:"+k.caller.tokenKey, m.ts+":"+m.sig, maxTime(o.At, o.Now).Add(timestampWindow+time.Minute), o.Now)
			if err != nil {
				return struct{}{}, false, fmt.Errorf("record nonce: %w", err)
			}
			return struct{}{}, fresh, nil
		},
		BadTime:      fail(CodeTimestampInvalid, "timestamp must be Unix milliseconds"),
		Expired:      fail(CodeTimestampInvalid, "timestamp is more than 5 minutes from the server's clock"),
		BadSignature: fail(CodeSignatureInvalid, ""),
		Replay:       fail(CodeReplay, "this timestamp and signature were used before"),
	}
}

// authenticate checks the accesstoken, timestamp and signature headers and reads the parameters.
func (a *API) authenticate(ctx context.Context, w http.ResponseWriter, r *http.Request, o routeOpts) (*call, error) {
	token := strings.TrimSpace(r.Header.Get("accesstoken"))
	tsText := strings.TrimSpace(r.Header.Get("timestamp"))
	sig := strings.TrimSpace(r.Header.Get("signature"))
	if token == "" || tsText == "" || sig == "" {
		return nil, fail(CodeAuthMissing, "headers accesstoken, timestamp and signature are required")
	}
	opened, err := a.signed.Open(ctx, token, tsText)
	if err != nil {
		return nil, err
	}
	p, sources, err := readParams(w, r, o.multipart, a.maxUp)
	if err != nil {
		return nil, err
	}
	cl := &call{caller: opened.Key.caller, p: p, w: w, r: r}
	if p.Files != nil {
		cl.cleanup = func() { _ = p.Files.RemoveAll() }
	}
	if _, err := a.signed.Verify(ctx, opened, signedMsg{sources: sources, ts: tsText, sig: sig}, normalizeSignature(sig)); err != nil {
		if cl.cleanup != nil {
			cl.cleanup()
		}
		return nil, err
	}
	return cl, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// caller resolves a presented access token (user or job-scoped) to who it belongs to. What the
// credential, user and role say is cached by the token's key id for cacheTTL; the token's expiry and
// a job token's run are checked on every request.
func (a *API) caller(ctx context.Context, token string, now time.Time) (*caller, error) {
	prefixes := []string{"at:", "jt:"}
	for _, prefix := range prefixes {
		keyID := tokenKeyID(prefix, token)
		if cc, ok := a.callers.Get(keyID, now); ok {
			return a.finishCaller(ctx, keyID, token, cc, now)
		}
	}
	seq := a.callers.Begin()
	for _, prefix := range prefixes {
		keyID := tokenKeyID(prefix, token)
		cred, err := a.st.GetCredential(ctx, store.CredRPA, keyID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up token: %w", err)
		}
		if cred.RevokedAt != nil || subtle.ConstantTimeCompare(cred.SecretHash, auth.HashToken(token)) != 1 {
			return nil, fail(CodeTokenInvalid, "")
		}
		if cred.ExpiresAt != nil && !now.Before(*cred.ExpiresAt) {
			return nil, fail(CodeTokenExpired, "")
		}
		var lab tokenLabel
		if err := json.Unmarshal([]byte(cred.Label), &lab); err != nil {
			return nil, fmt.Errorf("decode token label: %w", err)
		}
		cc := cachedCaller{accountID: cred.AccountID, secretHash: cred.SecretHash, expiresAt: cred.ExpiresAt}
		if prefix == "jt:" {
			if lab.Job == nil {
				return nil, fail(CodeTokenInvalid, "")
			}
			cc.job = lab.Job
		} else {
			u, err := facade.GetDoc[userDoc](ctx, a.st, cred.AccountID, recUser, lab.UserID)
			if errors.Is(err, store.ErrNotFound) {
				return nil, fail(CodeTokenInvalid, "the user no longer exists")
			}
			if err != nil {
				return nil, err
			}
			if u.Doc.Status != 0 {
				return nil, fail(CodeTokenInvalid, "the user is disabled")
			}
			cc.user = u
			role, err := facade.GetDoc[roleDoc](ctx, a.st, cred.AccountID, recRole, u.Doc.RoleID)
			if err == nil {
				cc.role = role.Doc
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		a.callers.Add(keyID, cred.AccountID, seq, cc, now)
		return a.finishCaller(ctx, keyID, token, cc, now)
	}
	return nil, fail(CodeTokenInvalid, "")
}

// finishCaller makes the caller of a resolved token after the checks that must see the present:
// the token's expiry on the API's clock, and for a job token that its run still goes on.
func (a *API) finishCaller(ctx context.Context, keyID, token string, cc cachedCaller, now time.Time) (*caller, error) {
	if subtle.ConstantTimeCompare(cc.secretHash, auth.HashToken(token)) != 1 {
		return nil, fail(CodeTokenInvalid, "")
	}
	if cc.expiresAt != nil && !now.Before(*cc.expiresAt) {
		return nil, fail(CodeTokenExpired, "")
	}
	c := &caller{accountID: cc.accountID, tokenKey: keyID, user: cc.user, role: cc.role}
	if cc.job != nil {
		// The token lives only as long as the lease it was issued for.
		u, err := a.st.GetUnit(ctx, cc.job.UnitID)
		if err != nil || u.Status != store.UnitRunning || u.Epoch != cc.job.Epoch {
			return nil, fail(CodeJobTokenInvalid, "the job's run is over")
		}
		c.job = cc.job
	}
	return c, nil
}

// tokenResult is the token endpoint's result, field names as printed.
type tokenResult struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
}

// handleToken serves GET /oapi/v1/token: accessKey + secretKey log in, refreshToken renews, and
// (extension) jobTicket + unitId + epoch give a robot running a job its job-scoped token. It is the
// one unsigned route: the caller has no token yet.
func (a *API) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, _, err := readParams(w, r, false, 0)
	var res any
	if err == nil {
		switch {
		case p.Has("refreshToken"):
			res, err = a.refresh(ctx, p)
		case p.Has("jobTicket"):
			res, err = a.jobLogin(ctx, p)
		default:
			res, err = a.login(ctx, p)
		}
	}
	a.env.Write(w, r, res, err)
}

func (a *API) login(ctx context.Context, p params) (any, error) {
	key, err := p.Text("accessKey", true, 100)
	if err != nil {
		return nil, err
	}
	secret, err := p.Text("secretKey", true, 200)
	if err != nil {
		return nil, err
	}
	name, now := loginName(key), a.now()
	if err := a.checkLoginLock(ctx, name, now); err != nil {
		return nil, err
	}
	u, err := a.findLogin(ctx, key, secret)
	if err != nil {
		if asError(err).Code == CodeLoginFailed {
			a.loginFailed(ctx, name, now)
		}
		return nil, err
	}
	a.loginSucceeded(ctx, name)
	u.Doc.LastLoginTime = now.UnixMilli()
	if _, err := a.put(ctx, u.Record, u.Doc); err != nil {
		a.log.Warn("record last login", "user", u.ID, "err", err)
	}
	return a.issuePair(ctx, u.AccountID, u.ID)
}

// findLogin finds the user an accessKey (user name, phone or e-mail) and password name. Names are
// unique within a tenant, not across tenants: when several tenants have the name, the password
// decides, and only an unambiguous match logs in.
func (a *API) findLogin(ctx context.Context, key, secret string) (rec[userDoc], error) {
	var candidates []rec[userDoc]
	for _, prefix := range []string{"n:", "e:", "p:"} {
		lk := prefix + strings.ToLower(key)
		rs, _, err := a.st.ListRecords(ctx, store.RecordFilter{Kind: recLogin, ParentID: -1, KeyPrefix: lk, Limit: 50})
		if err != nil {
			return rec[userDoc]{}, fmt.Errorf("look up login: %w", err)
		}
		for _, r := range rs {
			if r.Key != lk {
				continue // a prefix match, or a LIKE wildcard in the name
			}
			var ld loginDoc
			if json.Unmarshal(r.Data, &ld) != nil {
				continue
			}
			u, err := facade.GetDoc[userDoc](ctx, a.st, r.AccountID, recUser, ld.UserID)
			if err != nil {
				continue
			}
			if auth.CheckPassword(u.Doc.PwHash, secret) && u.Doc.Status == 0 {
				candidates = append(candidates, u)
			}
		}
		if len(candidates) > 0 {
			break
		}
	}
	if len(candidates) == 1 {
		return candidates[0], nil
	}
	if len(candidates) == 0 {
		// An RPA credential made by the admin command (kind rpa, key id = the name) logs in as its
		// account's first administrator, created on first use.
		if u, err := a.loginByCredential(ctx, key, secret); err == nil {
			return u, nil
		}
	}
	return rec[userDoc]{}, fail(CodeLoginFailed, "")
}

func (a *API) loginByCredential(ctx context.Context, key, secret string) (rec[userDoc], error) {
	cred, err := a.st.GetCredential(ctx, store.CredRPA, key)
	if err != nil || !auth.Live(cred, a.now()) || len(cred.SecretHash) == 0 || !auth.CheckPassword(cred.SecretHash, secret) {
		return rec[userDoc]{}, fail(CodeLoginFailed, "")
	}
	if _, err := a.Bootstrap(ctx, cred.AccountID, key, secret); err != nil && !errors.Is(err, store.ErrConflict) {
		return rec[userDoc]{}, err
	}
	return facade.GetDocByKey[userDoc](ctx, a.st, cred.AccountID, recUser, key)
}

// issuePair creates an access token and its refresh token for the user.
func (a *API) issuePair(ctx context.Context, account, userID int64) (tokenResult, error) {
	now := a.now()
	access, refresh := newToken(), newToken()
	ak, rk := tokenKeyID("at:", access), tokenKeyID("rt:", refresh)
	aExp, rExp := now.Add(accessTokenTTL), now.Add(refreshTokenTTL)
	for _, c := range []struct {
		key, tok, pair string
		exp            time.Time
	}{{ak, access, rk, aExp}, {rk, refresh, ak, rExp}} {
		lab, _ := json.Marshal(tokenLabel{UserID: userID, Pair: c.pair, Account: account})
		exp := c.exp
		if _, err := a.st.CreateCredential(ctx, store.Credential{
			AccountID: account, Kind: store.CredRPA, KeyID: c.key, SecretHash: auth.HashToken(c.tok),
			Label: string(lab), CreatedAt: now, ExpiresAt: &exp,
		}); err != nil {
			return tokenResult{}, fmt.Errorf("store token: %w", err)
		}
	}
	return tokenResult{
		AccessToken: access, TokenType: "bearer", RefreshToken: refresh,
		// The document's example shows 1799999 for 30 minutes: milliseconds left, less the one spent.
		ExpiresIn: accessTokenTTL.Milliseconds() - 1, Scope: "server",
	}, nil
}

// refresh trades a refresh token for a new pair; the old pair is revoked, so a refresh token works
// once.
func (a *API) refresh(ctx context.Context, p params) (any, error) {
	tok, err := p.Text("refreshToken", true, 40)
	if err != nil {
		return nil, err
	}
	now := a.now()
	cred, err := a.st.GetCredential(ctx, store.CredRPA, tokenKeyID("rt:", tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(CodeRefreshInvalid, "")
	}
	if err != nil {
		return nil, fmt.Errorf("look up refresh token: %w", err)
	}
	if !auth.Live(cred, now) || subtle.ConstantTimeCompare(cred.SecretHash, auth.HashToken(tok)) != 1 {
		return nil, fail(CodeRefreshInvalid, "")
	}
	var lab tokenLabel
	if err := json.Unmarshal([]byte(cred.Label), &lab); err != nil {
		return nil, fmt.Errorf("decode token label: %w", err)
	}
	if _, err := facade.GetDoc[userDoc](ctx, a.st, cred.AccountID, recUser, lab.UserID); err != nil {
		return nil, fail(CodeRefreshInvalid, "the user no longer exists")
	}
	// Two refreshes racing with one token: the nonce table lets exactly one of them through, on
	// every replica.
	fresh, err := a.st.UseNonce(ctx, "rpa:refresh", cred.KeyID, cred.ExpiresAt.Add(time.Minute), now)
	if err != nil {
		return nil, fmt.Errorf("record refresh: %w", err)
	}
	if !fresh {
		return nil, fail(CodeRefreshInvalid, "already used")
	}
	if err := a.st.RevokeCredential(ctx, cred.ID, now); err != nil {
		return nil, fmt.Errorf("revoke refresh token: %w", err)
	}
	if old, err := a.st.GetCredential(ctx, store.CredRPA, lab.Pair); err == nil && old.RevokedAt == nil {
		if err := a.st.RevokeCredential(ctx, old.ID, now); err != nil {
			a.log.Warn("revoke replaced access token", "err", err)
		}
	}
	// The replaced access token may be cached as live on this replica.
	a.dropCallers(cred.AccountID)
	return a.issuePair(ctx, cred.AccountID, lab.UserID)
}
