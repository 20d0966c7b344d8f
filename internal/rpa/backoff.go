package rpa

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Sign-in backoff: wrong secrets for one accessKey name lock that name for a while, so that a
// password cannot be guessed at the server's speed. The counts live in the store's counters, so
// every replica sees the same ones. The lock is short and bounded (loginLockMax), so that someone
// who knows only a user's name cannot keep that user out for long; attempts while locked are refused
// without being counted and do not lengthen the lock.
const (
	loginScope      = "rpa:login"
	loginFailLimit  = 5                // wrong secrets within loginFailWindow that lock the name
	loginFailWindow = 15 * time.Minute // counted from the first of them
	loginLockBase   = 30 * time.Second // the first lock; each further lock doubles it
	loginLockMax    = 5 * time.Minute  // and no lock is longer
	loginLevelTTL   = 24 * time.Hour   // how long the doubling is remembered without a good sign-in
)

// loginName is what the backoff counts by: the accessKey as it is matched (case-insensitively).
func loginName(key string) string { return strings.ToLower(strings.TrimSpace(key)) }

// checkLoginLock refuses a sign-in for a locked name, right secret or not.
func (a *API) checkLoginLock(ctx context.Context, name string, now time.Time) error {
	n, until, err := a.st.GetCounter(ctx, loginScope, "lock:"+name, now)
	if err != nil {
		return fmt.Errorf("read sign-in lock: %w", err)
	}
	if n > 0 {
		secs := int64((until.Sub(now) + time.Second - 1) / time.Second)
		return fail(CodeLoginFailed, "too many wrong secrets for this name: try again in %d s", secs)
	}
	return nil
}

// loginFailed counts a wrong secret for name and locks it at the limit, each lock in a row twice as
// long as the one before, up to loginLockMax. A failure to count is logged: the sign-in is refused
// anyway.
func (a *API) loginFailed(ctx context.Context, name string, now time.Time) {
	n, _, err := a.st.AddCounter(ctx, loginScope, "fail:"+name, 1, now.Add(loginFailWindow), now)
	if err != nil {
		a.log.Warn("count wrong sign-in", "err", err)
		return
	}
	if n < loginFailLimit {
		return
	}
	level, _, err := a.st.AddCounter(ctx, loginScope, "level:"+name, 1, now.Add(loginLevelTTL), now)
	if err != nil {
		a.log.Warn("count sign-in lock", "err", err)
		level = 1
	}
	delay := loginLockMax
	if level < 16 && loginLockBase<<(level-1) < loginLockMax {
		delay = loginLockBase << (level - 1)
	}
	if _, _, err := a.st.AddCounter(ctx, loginScope, "lock:"+name, 1, now.Add(delay), now); err != nil {
		a.log.Warn("lock sign-in", "err", err)
		return
	}
	// The next lock takes loginFailLimit more wrong secrets.
	if err := a.st.DeleteCounter(ctx, loginScope, "fail:"+name); err != nil {
		a.log.Warn("reset wrong sign-ins", "err", err)
	}
	a.log.Info("sign-in name locked after wrong secrets", "name", name, "for", delay)
}

// loginSucceeded forgets name's wrong secrets and lock history.
func (a *API) loginSucceeded(ctx context.Context, name string) {
	for _, c := range []string{"fail:", "level:"} {
		if err := a.st.DeleteCounter(ctx, loginScope, c+name); err != nil {
			a.log.Warn("reset sign-in backoff", "err", err)
		}
	}
}
