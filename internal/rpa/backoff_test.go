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
		e.clock.at = e.clock.now() // from here the clock moves only when the test moves it
		type step struct {
			name    string
			key, pw string
			times   int           // tries, each answered code
			advance time.Duration // moves the clock before the tries
			code    int
			locked  string // "": the answer is not a lock; else the lock's "try again in N s"
		}
		wrong := func(key string, n int, advance time.Duration) step {
			return step{"wrong secrets", key, "nope", n, advance, CodeLoginFailed, ""}
		}
		lockedFor := func(key string, advance time.Duration, secs string) step {
			return step{"locked", key, "nope", 1, advance, CodeLoginFailed, "try again in " + secs + " s"}
		}
		right := func(advance time.Duration, code int, secs string) step {
			locked := ""
			if secs != "" {
				locked = "try again in " + secs + " s"
			}
			return step{"right secret", "admin", adminPassword, 1, advance, code, locked}
		}
		steps := []step{
			// 30 wrong secrets in a row, then the right one: refused while the lock lasts, and
			// the 25 refused tries did not lengthen it.
			wrong("admin", 5, 0),
			{"refused while locked", "admin", "nope", 25, 0, CodeLoginFailed, "try again in 30 s"},
			right(0, CodeLoginFailed, "30"),
			{"other users are not locked", "ops", "ops-pass", 1, 0, CodeOK, ""},
			{"the name's case does not matter", "ADMIN", adminPassword, 1, 0, CodeLoginFailed, "try again in 30 s"},
			right(29*time.Second, CodeLoginFailed, "1"),
			right(time.Second, CodeOK, ""),
			// The good sign-in reset the count: four wrong ones do not lock.
			wrong("admin", 4, 0),
			right(0, CodeOK, ""),
			// Names that do not exist lock alike (a lock tells nothing about the name), and locks in
			// a row double up to loginLockMax: 30, 60, 120, 240, then 300 s, not 480.
			wrong("ghost", 5, 0),
			lockedFor("ghost", 0, "30"),
			wrong("ghost", 5, 30*time.Second),
			lockedFor("ghost", 0, "60"),
			wrong("ghost", 5, 60*time.Second),
			lockedFor("ghost", 0, "120"),
			wrong("ghost", 5, 120*time.Second),
			lockedFor("ghost", 0, "240"),
			wrong("ghost", 5, 240*time.Second),
			lockedFor("ghost", 0, "300"),
			lockedFor("ghost", 299*time.Second, "1"),
			wrong("ghost", 1, time.Second),
		}
		for _, st := range steps {
			e.clock.offset += st.advance
			for i := range st.times {
				err := e.client().Login(ctx, st.key, st.pw)
				if CodeOf(err) != st.code {
					t.Fatalf("%s %s (try %d, clock +%v): %v, want code %d", st.name, st.key, i+1, e.clock.offset, err, st.code)
				}
				if err != nil && st.locked != "" != strings.Contains(err.Error(), "try again") ||
					st.locked != "" && !strings.Contains(err.Error(), st.locked) {
					t.Fatalf("%s %s (try %d, clock +%v): %v, want a lock %q", st.name, st.key, i+1, e.clock.offset, err, st.locked)
				}
			}
		}
	})
}
