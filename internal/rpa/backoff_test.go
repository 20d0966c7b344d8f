package rpa

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLoginBackoff: wrong secrets lock the name they were tried for, right secret or not, for a
// bounded and growing delay on the API's clock; a good sign-in after it resets the count (#15.13).
func TestLoginBackoff(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var roles Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/role/list", nil, &roles))
		must(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/user", url.Values{"userName": {"ops"}, "roleId": {toString(roles.Items[3]["id"])},
			"orgCode": {"-001-"}, "userPassword": {"ops-pass"}}, nil))
		type step struct {
			name    string
			key, pw string
			times   int           // tries, each answered code
			advance time.Duration // moves the clock before the tries
			code    int
			msgHas  string
		}
		wrong := func(n int, advance time.Duration) step {
			return step{"wrong", "admin", "nope", n, advance, CodeLoginFailed, ""}
		}
		right := func(advance time.Duration, code int) step {
			msg := ""
			if code != CodeOK {
				msg = "try again"
			}
			return step{"right", "admin", adminPassword, 1, advance, code, msg}
		}
		steps := []step{
			// 30 wrong secrets in a row, then the right one: refused while the lock lasts.
			wrong(30, 0),
			right(0, CodeLoginFailed),
			{"other users are not locked", "ops", "ops-pass", 1, 0, CodeOK, ""},
			{"the name's case does not matter", "ADMIN", adminPassword, 1, 0, CodeLoginFailed, "try again"},
			right(29*time.Second, CodeLoginFailed),
			right(2*time.Second, CodeOK), // the first lock is 30 s
			// The count was reset: four wrong ones do not lock.
			wrong(4, 0),
			right(0, CodeOK),
			// Locks in a row double: 30 s, then 60 s.
			wrong(5, 0),
			wrong(5, 31*time.Second),
			right(59*time.Second, CodeLoginFailed),
			right(2*time.Second, CodeOK),
			// And stop growing at loginLockMax: the sixth lock in a row is 300 s, not 960 s.
			wrong(5, 0),
			wrong(5, loginLockMax+time.Second),
			wrong(5, loginLockMax+time.Second),
			wrong(5, loginLockMax+time.Second),
			wrong(5, loginLockMax+time.Second),
			wrong(5, loginLockMax+time.Second),
			right(loginLockMax-time.Second, CodeLoginFailed),
			right(2*time.Second, CodeOK),
		}
		for _, st := range steps {
			e.clock.offset += st.advance
			for i := range st.times {
				err := e.client().Login(ctx, st.key, st.pw)
				if CodeOf(err) != st.code {
					t.Fatalf("%s (try %d, clock +%v): %v, want code %d", st.name, i+1, e.clock.offset, err, st.code)
				}
				if st.msgHas != "" && !strings.Contains(err.Error(), st.msgHas) {
					t.Fatalf("%s: %v, want %q in the message", st.name, err, st.msgHas)
				}
			}
		}
	})
}
