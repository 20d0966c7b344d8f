package rpa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"taskcenter/internal/engine"
)

// These tests call the API as a client written from the document alone would (issue 15.12).

// TestItemListWithoutPaging: the document's item list has no page or size, and its example answers
// every item; a client that sends none gets them all (up to maxUnpagedItems), filtered or not.
func TestItemListWithoutPaging(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "big", "queueMaxItems": 0, "failTryTimes": 0}, nil))
		q, err := e.api.queueRec(ctx, e.account, 0, "big")
		must(t, err)
		// More items than one unpaged answer holds, and more than one scan chunk; a few high ones.
		const n = maxUnpagedItems + 5
		specs := make([]engine.UnitSpec, n)
		for i := range specs {
			specs[i] = engine.UnitSpec{Name: fmt.Sprintf("item-%04d", i), Capability: CapabilityQueue, Priority: 1, Spec: json.RawMessage(`{}`)}
			if i%100 == 7 {
				specs[i].Priority = 2
			}
		}
		_, err = e.eng.AddUnits(ctx, q.Doc.JobID, specs)
		must(t, err)
		for _, tc := range []struct {
			name        string
			q           url.Values
			total, size int
			first       string
		}{
			{"no paging", url.Values{}, n, maxUnpagedItems, "item-0000"},
			{"no paging, status in SQL", url.Values{"status": {"pending"}}, n, maxUnpagedItems, "item-0000"},
			{"no paging, filter", url.Values{"filter": {"status:pending"}}, n, maxUnpagedItems, "item-0000"},
			{"no paging, priority", url.Values{"priority": {"high"}}, 10, 10, "item-0007"},
			{"size only", url.Values{"size": {"10"}}, n, 10, "item-0000"},
			{"page only", url.Values{"page": {"2"}}, n, 10, "item-0010"},
			{"last page", url.Values{"page": {"101"}, "size": {"10"}}, n, 5, "item-1000"},
			{"filtered page", url.Values{"priority": {"high"}, "page": {"2"}, "size": {"5"}}, 10, 5, "item-0507"},
			{"past the end", url.Values{"status": {"running"}}, 0, 0, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.q.Set("queueName", "big")
				var list Page[item]
				must(t, e.admin.Get(ctx, "/oapi/v1/queue/item", tc.q, &list))
				if list.Total != tc.total || len(list.Items) != tc.size {
					t.Fatalf("total %d, %d items; want %d, %d", list.Total, len(list.Items), tc.total, tc.size)
				}
				if tc.size > 0 && list.Items[0].ItemNo != tc.first {
					t.Fatalf("first item %s, want %s", list.Items[0].ItemNo, tc.first)
				}
			})
		}
	})
}

// TestRequiredByDocument: parameters the document marks required (是) are refused when absent.
func TestRequiredByDocument(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "q", "queueMaxItems": 0, "failTryTimes": 0}, nil))
		uid := strconv.FormatInt(e.adminID, 10)
		item := func(extra map[string]any) error {
			body := map[string]any{"queueName": "q", "priority": "high"}
			for k, v := range extra {
				body[k] = v
			}
			return e.admin.Send(ctx, "POST", "/oapi/v1/queue/item", body, nil)
		}
		upload := func(fields url.Values) error {
			return e.admin.Upload(ctx, "/oapi/v1/share/file", fields, "uploadFile", "D:/a.txt", []byte("a"), nil)
		}
		for _, tc := range []struct {
			name string
			call func() error
			code int
		}{
			{"item without deadline", func() error { return item(nil) }, CodeParamMissing},
			{"item with empty deadline", func() error { return item(map[string]any{"deadline": ""}) }, CodeParamMissing},
			{"item with deadline", func() error { return item(map[string]any{"deadline": "2020-04-16 23:50:40"}) }, CodeOK},
			{"upload without userId", func() error { return upload(url.Values{"fileTag": {"a,b"}}) }, CodeParamMissing},
			{"upload with empty userId", func() error { return upload(url.Values{"userId": {""}}) }, CodeParamMissing},
			{"upload with a text userId", func() error { return upload(url.Values{"userId": {"me"}}) }, CodeParamInvalid},
			{"upload for an unknown user", func() error { return upload(url.Values{"userId": {"999999"}}) }, CodeNotFound},
			{"upload with userId", func() error { return upload(url.Values{"userId": {uid}, "isOverwrite": {"yes"}}) }, CodeOK},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
		}
		var files Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/share/file", url.Values{"userId": {uid}}, &files))
		if files.Total != 1 || files.Items[0]["fileName"] != "a.txt" {
			t.Fatalf("files of user %s: %+v", uid, files)
		}
	})
}

// queryCall sends method path?q with an empty body, the given timestamp and signature, and returns
// the answer's code.
func queryCall(t *testing.T, e *env, method, path string, q url.Values, ts, sig string) int {
	t.Helper()
	tok, _ := e.admin.Tokens()
	return rawCall(t, e, method, path+queryString(q), "", map[string]string{"accesstoken": tok, "timestamp": ts, "signature": sig})
}

// TestQueryParamsSignedEitherWay: a POST (or PUT, DELETE) whose parameters travel in the query
// string may be signed over the sorted query or over its raw, empty, body; each signature is still
// good for one request only.
func TestQueryParamsSignedEitherWay(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "q", "queueMaxItems": 0, "failTryTimes": 0}, nil))
		sorted := func(q url.Values) string { return SortedParams(q) }
		emptyBody := func(url.Values) string { return "" }
		other := func(url.Values) string { return "page=2" }
		for _, tc := range []struct {
			name, method, path string
			q                  url.Values
			source             func(url.Values) string
			code               int
		}{
			{"asset list, sorted query", "POST", "/oapi/v1/asset/list", url.Values{"page": {"1"}, "size": {"10"}}, sorted, CodeOK},
			{"asset list, empty body", "POST", "/oapi/v1/asset/list", url.Values{"page": {"1"}, "size": {"10"}}, emptyBody, CodeOK},
			{"asset list, something else", "POST", "/oapi/v1/asset/list", url.Values{"page": {"1"}, "size": {"10"}}, other, CodeSignatureInvalid},
			{"job create, empty body", "POST", "/oapi/v1/job/create", url.Values{"id": {"999999"}}, emptyBody, CodeNotFound},
			{"job create, sorted query", "POST", "/oapi/v1/job/create", url.Values{"id": {"999999"}}, sorted, CodeNotFound},
			{"queue clear, empty body", "PUT", "/oapi/v1/queue/clear", url.Values{"queueName": {"q"}}, emptyBody, CodeOK},
			{"GET signs the query only", "GET", "/oapi/v1/queue", url.Values{"queueName": {"q"}}, emptyBody, CodeSignatureInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok, _ := e.admin.Tokens()
				ts := e.admin.timestamp()
				sig := SignRequest(tok, tc.source(tc.q), ts)
				if got := queryCall(t, e, tc.method, tc.path, tc.q, ts, sig); got != tc.code {
					t.Fatalf("code %d, want %d", got, tc.code)
				}
				if tc.code == CodeSignatureInvalid {
					return
				}
				// The same signature again is refused, whichever form it took, and so is that
				// signature sent with other parameters (a replay, or a signature over other ones).
				if got := queryCall(t, e, tc.method, tc.path, tc.q, ts, sig); got != CodeReplay {
					t.Fatalf("replay: code %d, want %d", got, CodeReplay)
				}
				if got := queryCall(t, e, tc.method, tc.path, url.Values{"page": {"9"}}, ts, sig); got != CodeReplay && got != CodeSignatureInvalid {
					t.Fatalf("replay with other parameters: code %d", got)
				}
			})
		}
	})
}
