package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/httplimit"
	"taskcenter/internal/store"
)

// A sign-in exchanges a native token (admin kind) for a session: a fresh admin credential of the
// same account that expires (SessionTTL) and is revoked at sign-out, whose token lives only in an
// HttpOnly cookie. The native token itself is never stored by the browser. Every change the app asks
// for carries X-CSRF-Token, a proof derived from the session's token that only a page of this
// origin can read (from GET /console/session); a cross-site form cannot send it.

const (
	cookieName  = "taskcenter_session"
	csrfHeader  = "X-CSRF-Token"
	sessionNote = "console session"
)

// csrfToken is the proof a change must carry for the session token.
func csrfToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("taskcenter console csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

// SessionToken implements native.Sessions: the native token of the request's session cookie, after
// checking the CSRF proof of anything but a read.
func (c *Console) SessionToken(r *http.Request) (string, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return "", auth.ErrUnauthorized
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ck.Value, nil
	}
	if !sameOrigin(r) {
		return "", fmt.Errorf("%w: cross-origin change", auth.ErrUnauthorized)
	}
	got := r.Header.Get(csrfHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(ck.Value))) != 1 {
		return "", fmt.Errorf("%w: missing or wrong %s", auth.ErrUnauthorized, csrfHeader)
	}
	return ck.Value, nil
}

// sameOrigin refuses a request whose Origin (sent by browsers on changes) names another host; a
// request without one (not a browser) is judged by its CSRF proof alone.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// session is the caller a cookie stands for.
type session struct {
	token   string
	cred    store.Credential
	account store.Account
}

func (c *Console) session(r *http.Request) (session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, auth.ErrUnauthorized
	}
	cred, err := auth.VerifyToken(r.Context(), c.cfg.Store, store.CredAdmin, ck.Value, c.cfg.Engine.Now())
	if err != nil {
		return session{}, err
	}
	a, err := c.cfg.Store.GetAccount(r.Context(), cred.AccountID)
	if err != nil {
		return session{}, auth.ErrUnauthorized
	}
	return session{token: ck.Value, cred: cred, account: a}, nil
}

// sessionView is what the app learns of its session.
type sessionView struct {
	Account   accountView `json:"account"`
	CSRF      string      `json:"csrf_token"`
	ExpiresAt *time.Time  `json:"expires_at,omitempty"`
}

type accountView struct {
	ID    int64      `json:"id"`
	Name  string     `json:"name"`
	Role  store.Role `json:"role"`
	Admin bool       `json:"admin"`
}

func viewOf(s session) sessionView {
	return sessionView{Account: accountView{ID: s.account.ID, Name: s.account.Name, Role: s.account.Role,
		Admin: s.account.Role == store.RoleAdmin}, CSRF: csrfToken(s.token), ExpiresAt: s.cred.ExpiresAt}
}

func (c *Console) handleSession(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if err != nil {
		facade.Fail(w, r, c.log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	facade.JSON(w, http.StatusOK, viewOf(s))
}

func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		facade.JSONError(w, http.StatusForbidden, "cross-origin sign-in")
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	httplimit.Body(w, r, 10*time.Second)
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		facade.JSONError(w, http.StatusBadRequest, "want {\"token\": \"...\"}")
		return
	}
	now := c.cfg.Engine.Now()
	cred, err := auth.VerifyToken(r.Context(), c.cfg.Store, store.CredAdmin, strings.TrimSpace(req.Token), now)
	if err != nil {
		facade.Fail(w, r, c.log, err)
		return
	}
	a, err := c.cfg.Store.GetAccount(r.Context(), cred.AccountID)
	if err != nil {
		facade.Fail(w, r, c.log, auth.ErrUnauthorized)
		return
	}
	token, sc, err := c.issueSession(r.Context(), a.ID, now)
	if err != nil {
		facade.Fail(w, r, c.log, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, Expires: *sc.ExpiresAt})
	w.Header().Set("Cache-Control", "no-store")
	facade.JSON(w, http.StatusOK, viewOf(session{token: token, cred: sc, account: a}))
}

// handleSignOut revokes the session (a change: it needs the CSRF proof) and clears the cookie.
func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if _, err := c.SessionToken(r); err != nil {
		facade.Fail(w, r, c.log, err)
		return
	}
	s, err := c.session(r)
	if err == nil {
		err = c.cfg.Store.RevokeCredential(r.Context(), s.cred.ID, c.cfg.Engine.Now())
	}
	if err != nil && !errors.Is(err, auth.ErrUnauthorized) {
		facade.Fail(w, r, c.log, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// issueSession makes the session's credential: an admin token of the account, in the form
// auth.VerifyToken reads, that expires.
func (c *Console) issueSession(ctx context.Context, accountID int64, now time.Time) (string, store.Credential, error) {
	keyID, secret := string(store.CredAdmin)+"_"+auth.RandomHex(8), auth.RandomHex(24)
	until := now.Add(c.cfg.SessionTTL)
	cred, err := c.cfg.Store.CreateCredential(ctx, store.Credential{AccountID: accountID, Kind: store.CredAdmin, KeyID: keyID,
		SecretHash: auth.HashToken(secret), Label: sessionNote, CreatedAt: now, ExpiresAt: &until})
	if err != nil {
		return "", store.Credential{}, fmt.Errorf("open a console session: %w", err)
	}
	return keyID + "." + secret, cred, nil
}
