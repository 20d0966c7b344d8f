package rpa

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"taskcenter/internal/facade"
)

// cachedKey reports whether the caller cache holds a live entry for an access token.
func cachedKey(e *env, access string) bool {
	_, ok := e.api.callers.Get(tokenKeyID("at:", access), e.clock.now())
	return ok
}

// TestCallerCacheDropsOnWrites checks that a write on this replica reaches a token that is cached
// at once, not after the cache's time to live.
func TestCallerCacheDropsOnWrites(t *testing.T) {
	// probe needs the queue permission and then finds no queue: CodeNotFound while the caller is a
	// developer, CodeForbidden once its role may not touch queues.
	probe := func(ctx context.Context, c *Client) error {
		return c.Send(ctx, "PUT", "/oapi/v1/queue/clear", map[string]any{"queueName": "none"}, nil)
	}
	cases := []struct {
		name   string
		change func(t *testing.T, e *env, user *Client, id int64, roles []any)
		want   int // the old token's code after the change
	}{
		{"delete user", func(t *testing.T, e *env, _ *Client, id int64, _ []any) {
			must(t, e.admin.Send(context.Background(), "DELETE", "/oapi/v1/user", map[string]any{"ids": id}, nil))
		}, CodeTokenInvalid},
		{"disable user", func(t *testing.T, e *env, _ *Client, id int64, _ []any) {
			// No route disables a user; any write of the record through the facade must count.
			ctx := context.Background()
			u, err := facade.GetDoc[userDoc](ctx, e.st, e.account, recUser, id)
			must(t, err)
			u.Doc.Status = 1
			_, err = e.api.put(ctx, u.Record, u.Doc)
			must(t, err)
		}, CodeTokenInvalid},
		{"change role", func(t *testing.T, e *env, _ *Client, id int64, roles []any) {
			must(t, e.admin.Send(context.Background(), "PUT", "/oapi/v1/user", map[string]any{"id": id, "roleId": roles[3]}, nil))
		}, CodeForbidden},
		{"change password", func(t *testing.T, e *env, user *Client, id int64, _ []any) {
			must(t, user.Send(context.Background(), "PUT", "/oapi/v1/user", map[string]any{"id": id, "lodePass": "user-pass", "newPass": "user-new"}, nil))
		}, CodeNotFound}, // tokens outlive a password change; the cached user record must not
		{"refresh", func(t *testing.T, e *env, user *Client, _ int64, _ []any) {
			must(t, user.Refresh(context.Background()))
		}, CodeTokenInvalid},
	}
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var roles Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/role/list", nil, &roles))
		var roleIDs []any
		for _, r := range roles.Items {
			roleIDs = append(roleIDs, r["id"])
		}
		var orgs Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/orgDef/list", nil, &orgs))
		root := toString(orgs.Items[0]["orgCode"])
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				name := fmt.Sprintf("user%d", i)
				var res struct {
					ID int64 `json:"id"`
				}
				must(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/user", url.Values{"userName": {name}, "roleId": {toString(roleIDs[1])},
					"orgCode": {root}, "userPassword": {"user-pass"}}, &res))
				user := e.login(name, "user-pass")
				at, _ := user.Tokens()
				old := e.client()
				old.SetToken(at) // no refresh token: the client cannot renew behind the test's back
				wantCode(t, probe(ctx, old), CodeNotFound)
				if !cachedKey(e, at) {
					t.Fatal("the token was not cached")
				}
				tc.change(t, e, user, res.ID, roleIDs)
				if cachedKey(e, at) {
					t.Fatal("the write left the token cached")
				}
				wantCode(t, probe(ctx, old), tc.want)
			})
		}
	})
}

// TestCallerCacheTokenExpiry checks that a cached token still expires on the API's clock.
func TestCallerCacheTokenExpiry(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		at, _ := e.admin.Tokens()
		old := e.client()
		old.SetToken(at)
		// Two seconds before the token expires the request is served and its caller cached...
		e.clock.offset = accessTokenTTL - 2*time.Second
		must(t, old.Get(ctx, "/oapi/v1/role/list", nil, nil))
		// ...and one second after, the entry is still live but the token is not.
		e.clock.offset = accessTokenTTL + time.Second
		if !cachedKey(e, at) {
			t.Fatal("the token's entry is gone before the cache's time to live")
		}
		wantCode(t, old.Get(ctx, "/oapi/v1/role/list", nil, nil), CodeTokenExpired)
	})
}

// TestQueueCacheDropsOnDelete checks that a deleted queue stops answering at once, by name and by id,
// and that a queue made again under the name is the new one.
func TestQueueCacheDropsOnDelete(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		create := func() int64 {
			var res struct {
				ID int64 `json:"id"`
			}
			must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "q1", "queueMaxItems": 10, "failTryTimes": 0}, &res))
			return res.ID
		}
		id := create()
		for _, q := range []url.Values{{"queueName": {"q1"}}, {"queueId": {idString(id)}}} {
			var it map[string]any
			must(t, e.admin.Get(ctx, "/oapi/v1/queue/item/pop", q, &it))
			if it != nil {
				t.Fatalf("empty queue popped %v", it)
			}
		}
		if _, ok := e.api.queues.Get(queueKey{account: e.account, name: "q1"}, e.clock.now()); !ok {
			t.Fatal("the queue was not cached")
		}
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/queue", map[string]any{"queueName": "q1"}, nil))
		for _, q := range []url.Values{{"queueName": {"q1"}}, {"queueId": {idString(id)}}} {
			wantCode(t, e.admin.Get(ctx, "/oapi/v1/queue/item/pop", q, nil), CodeNotFound)
		}
		create()
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "q1", "priority": "high", "deadline": "2030-01-01 00:00:00"}, nil))
		var it map[string]any
		must(t, e.admin.Get(ctx, "/oapi/v1/queue/item/pop", url.Values{"queueName": {"q1"}}, &it))
		if it == nil {
			t.Fatal("the new queue's item was not popped")
		}
	})
}
