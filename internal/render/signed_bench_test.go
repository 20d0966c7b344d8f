package render

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// BenchmarkSignedRequest measures the signed-request path alone: headers, window, key lookup (cached),
// body, canonical form, signature, nonce, parameters and the envelope around a small answer, served
// in process on SQLite. It is the part of every render call the facade kit carries; compare its
// allocations before and after a change to it.
//
//	go test ./internal/render -run '^$' -bench BenchmarkSignedRequest -benchmem -count 6
func BenchmarkSignedRequest(b *testing.B) {
	ctx := context.Background()
	st := sqlite.OpenTest(b)
	eng := engine.New(st, engine.Config{}, testLog(), nil)
	blobs, err := blob.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	keys, err := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	api, err := New(Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: testLog(), Blender: "none"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Close() })
	acct, err := st.CreateAccount(ctx, store.Account{Name: "bench", Role: store.RoleUser})
	if err != nil {
		b.Fatal(err)
	}
	id, key, err := CreateAccessKey(ctx, st, keys, acct.ID)
	if err != nil {
		b.Fatal(err)
	}
	cl := &Client{BaseURL: "http://render.test", AccessID: id, AccessKey: key}
	h := api.serve(func(ctx context.Context, c *call) (any, error) {
		n, err := c.p.int("n", false, 1)
		return map[string]any{"n": n, "account": c.account.ID}, err
	})
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		if reqs[i], err = cl.Request(ctx, "/api/render/task/getTaskList", []byte(`{"n":7,"taskIds":[1,2,3],"name":"x"}`)); err != nil {
			b.Fatal(err)
		}
		// As the server reads them off the wire: header names canonicalised.
		h := http.Header{}
		for k, v := range reqs[i].Header {
			h[http.CanonicalHeaderKey(k)] = v
		}
		reqs[i].Header = h
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, r := range reqs {
		w := httptest.NewRecorder()
		h(w, r)
		if !strings.Contains(w.Body.String(), `"code":200`) {
			b.Fatalf("answer %s", w.Body.String())
		}
	}
}

// BenchmarkCanonical measures the string to sign of a getTaskList body, and the bound on the body's
// values and depth that runs before it is decoded (checkShape) on its own.
//
//	go test ./internal/render -run '^$' -bench Canonical
func BenchmarkCanonical(b *testing.B) {
	body := []byte(`{"pageNum":3,"pageSize":10,"statusList":[0,5],"name":"x","taskIds":[1,2,3]}`)
	headers := map[string]string{"accessId": "AK0123456789", "channel": "4", "platform": "2",
		"UTCTimestamp": "1700000000000", "nonce": "abcdef123456", "version": "1.0.0"}
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Canonical("render.test", "/api/render/task/getTaskList", headers, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shape bound", func(b *testing.B) {
		for b.Loop() {
			if err := checkShape(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
