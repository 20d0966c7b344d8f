package facade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// testCodes is a dialect table in the RPA style (prefixed messages, every class mapped).
var testCodes = &Codes{
	OK: 0, Internal: 500, Invalid: 2, NotFound: 4, Exists: 5, Stale: 6, TooLarge: 9,
	Missing: 1, BadParam: 2, TooLong: 3, Prefixed: true,
	Text: map[int]string{0: "ok", 1: "missing", 2: "invalid", 3: "too long", 4: "not found", 5: "exists", 6: "stale", 9: "too large", 500: "internal"},
}

// bareCodes is one in the render style: details alone, only invalid input mapped.
var bareCodes = &Codes{OK: 200, Internal: 500, Invalid: 600, Missing: 601, BadParam: 600, TooLong: 600,
	Text: map[int]string{200: "success", 500: "internal_error", 600: "parameter_invalid", 601: "parameter_cant_be_empty"}}

func TestCodes(t *testing.T) {
	tests := []struct {
		name     string
		codes    *Codes
		err      error
		code     int
		msg      string
		keepsErr bool
	}{
		{"own error", testCodes, testCodes.New(3, "x is longer than %d", 5), 3, "too long: x is longer than 5", false},
		{"own error, no detail", testCodes, testCodes.New(1, ""), 1, "missing", false},
		{"bare detail", bareCodes, bareCodes.New(601, "x is required"), 601, "x is required", false},
		{"not found", testCodes, fmt.Errorf("load: %w", store.ErrNotFound), 4, "not found", true},
		{"blob not found", testCodes, blob.ErrNotFound, 4, "not found", true},
		{"conflict", testCodes, store.ErrConflict, 5, "exists", true},
		{"stale", testCodes, store.ErrStale, 6, "stale", true},
		{"too large", testCodes, blob.ErrTooLarge, 9, "too large", true},
		{"invalid shows its cause", testCodes, fmt.Errorf("%w: priority out of range", engine.ErrInvalid), 2, "invalid: invalid request: priority out of range", true},
		{"invalid, bare", bareCodes, fmt.Errorf("%w: priority out of range", engine.ErrInvalid), 600, "invalid request: priority out of range", true},
		{"unmapped class is internal", bareCodes, store.ErrNotFound, 500, "internal_error", true},
		{"anything else is internal", testCodes, errors.New("disk on fire"), 500, "internal", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.codes.Of(tt.err)
			if e.Code != tt.code || e.Msg != tt.msg || (e.Err != nil) != tt.keepsErr {
				t.Errorf("Of = %d %q (cause %v), want %d %q", e.Code, e.Msg, e.Err, tt.code, tt.msg)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestEnvelope(t *testing.T) {
	fixed := func() time.Time { return time.UnixMilli(1700000000123) }
	verbose := NewEnvelope(Layout{Codes: bareCodes, ContentType: "application/json;charset=UTF-8", Now: fixed, Log: discard(), Fields: []Field{
		{Name: "version", Part: PartConst, Const: "1.0.0"}, {Name: "result", Part: PartOK}, {Name: "message", Part: PartMessage},
		{Name: "code", Part: PartCode}, {Name: "data", Part: PartData}, {Name: "serverTime", Part: PartServerTime}, {Name: "requestId", Part: PartRequestID},
	}})
	short := NewEnvelope(Layout{Codes: testCodes, ContentType: "application/json; charset=utf-8", Log: discard(), Fields: []Field{
		{Name: "code", Part: PartCode}, {Name: "msg", Part: PartMessage}, {Name: "result", Part: PartData, OmitEmpty: true},
	}})
	tests := []struct {
		name string
		env  *Envelope
		data any
		err  error
		want string
	}{
		{"verbose ok", verbose, map[string]any{"b": 1, "a": "<x>"}, nil,
			`{"version":"1.0.0","result":true,"message":"success","code":200,"data":{"a":"\u003cx\u003e","b":1},"serverTime":1700000000123,"requestId":"rid"}`},
		{"verbose error", verbose, map[string]int{"a": 1}, bareCodes.New(601, "taskId is required"),
			`{"version":"1.0.0","result":false,"message":"taskId is required","code":601,"data":null,"serverTime":1700000000123,"requestId":"rid"}`},
		{"verbose internal hides the cause", verbose, nil, errors.New("secret detail"),
			`{"version":"1.0.0","result":false,"message":"internal_error","code":500,"data":null,"serverTime":1700000000123,"requestId":"rid"}`},
		{"short ok", short, []int{1, 2}, nil, `{"code":0,"msg":"ok","result":[1,2]}`},
		{"short nil result", short, nil, nil, `{"code":0,"msg":"ok"}`},
		{"short error", short, "dropped", store.ErrNotFound, `{"code":4,"msg":"not found"}`},
		{"unencodable falls back to internal", short, func() {}, nil, `{"code":500,"msg":"internal"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", nil)
			r.Header.Set("X-Request-Id", "rid")
			w := httptest.NewRecorder()
			tt.env.Write(w, r, tt.data, tt.err)
			if got := strings.TrimSuffix(w.Body.String(), "\n"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if w.Code != 200 || w.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) || w.Header().Get("Content-Type") != tt.env.l.ContentType {
				t.Errorf("status %d, headers %v", w.Code, w.Header())
			}
		})
	}
}

func TestParams(t *testing.T) {
	obj := func(s string) Params {
		m, err := DecodeObject([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return Params{JSON: m, Codes: testCodes}
	}
	form := func(s string) Params {
		v, _ := url.ParseQuery(s)
		return Params{Form: v, Codes: testCodes}
	}
	tests := []struct {
		name string
		read func() (any, error)
		want any
		code int // 0: no error
	}{
		{"int json", func() (any, error) { return obj(`{"n":5}`).Int("n", true, 1, 10, 0) }, int64(5), 0},
		{"int form", func() (any, error) { return form(`n=7`).Int("n", true, 1, 10, 0) }, int64(7), 0},
		{"int quoted", func() (any, error) { return obj(`{"n":" 8 "}`).Int("n", true, 1, 10, 0) }, int64(8), 0},
		{"int default", func() (any, error) { return obj(`{}`).Int("n", false, 1, 10, 3) }, int64(3), 0},
		{"int blank is absent", func() (any, error) { return form(`n=`).Int("n", false, 1, 10, 3) }, int64(3), 0},
		{"int required", func() (any, error) { return obj(`{"n":null}`).Int("n", true, 1, 10, 0) }, int64(0), 1},
		{"int range", func() (any, error) { return obj(`{"n":11}`).Int("n", true, 1, 10, 0) }, int64(0), 2},
		{"int fraction", func() (any, error) { return obj(`{"n":1.5}`).Int("n", true, 1, 10, 0) }, int64(0), 2},
		{"int type", func() (any, error) { return obj(`{"n":[1]}`).Int("n", true, 1, 10, 0) }, int64(0), 2},
		{"text trimmed", func() (any, error) { return obj(`{"s":" a "}`).Text("s", true, 5) }, "a", 0},
		{"text number", func() (any, error) { return obj(`{"s":12}`).Text("s", true, 5) }, "12", 0},
		{"text required", func() (any, error) { return form(`s=+`).Text("s", true, 5) }, "", 1},
		{"text length in characters", func() (any, error) { return obj(`{"s":"五个汉字啊"}`).Text("s", true, 5) }, "五个汉字啊", 0},
		{"text too long", func() (any, error) { return obj(`{"s":"abcdef"}`).Text("s", true, 5) }, "", 3},
		{"text NUL", func() (any, error) { return obj(`{"s":"a\u0000b"}`).Text("s", true, 5) }, "", 2},
		{"text object", func() (any, error) { return obj(`{"s":{}}`).Text("s", false, 5) }, "", 2},
		{"first text alias", func() (any, error) { return obj(`{"b":"x"}`).FirstText(true, 5, "a", "b") }, "x", 0},
		{"ids list", func() (any, error) { return obj(`{"i":[1,"2"]}`).IDs("i", true) }, []int64{1, 2}, 0},
		{"ids comma", func() (any, error) { return form(`i=3,4`).IDs("i", true) }, []int64{3, 4}, 0},
		{"ids zero", func() (any, error) { return obj(`{"i":0}`).IDs("i", true) }, []int64(nil), 2},
		{"ids empty required", func() (any, error) { return obj(`{"i":[]}`).IDs("i", true) }, []int64(nil), 1},
		{"yes", func() (any, error) { return form(`y=Y`).YesNo("y", false) }, true, 0},
		{"yes default", func() (any, error) { return obj(`{}`).YesNo("y", true) }, true, 0},
		{"yes bad", func() (any, error) { return obj(`{"y":"maybe"}`).YesNo("y", true) }, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			var e *Error
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tt.code != 0 && (!errors.As(err, &e) || e.Code != tt.code):
				t.Fatalf("error %v, want code %d", err, tt.code)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeObject(t *testing.T) {
	for body, ok := range map[string]bool{``: true, ` `: true, `{"a":1}`: true, `null`: true, `{"a":1} x`: false, `[1]`: false, `{`: false} {
		if _, err := DecodeObject([]byte(body)); (err == nil) != ok {
			t.Errorf("DecodeObject(%q): %v", body, err)
		}
	}
}

func TestPaging(t *testing.T) {
	tests := []struct {
		query         string
		offset, limit int
		code          int
	}{
		{"", 0, 10, 0},
		{"page=3&size=20", 40, 20, 0},
		{"page=0", 0, 0, 2},
		{"size=1001", 0, 0, 2},
	}
	for _, tt := range tests {
		v, _ := url.ParseQuery(tt.query)
		off, lim, err := Params{Form: v, Codes: testCodes}.Paging("page", "size", 10, 1000)
		var e *Error
		if (tt.code == 0) != (err == nil) || err != nil && (!errors.As(err, &e) || e.Code != tt.code) || off != tt.offset || lim != tt.limit {
			t.Errorf("%q: %d %d %v", tt.query, off, lim, err)
		}
	}
	p := Paginate([]int{1, 2, 3, 4, 5}, 3, 10)
	if p.Total != 5 || fmt.Sprint(p.Items) != "[4 5]" {
		t.Errorf("Paginate = %+v", p)
	}
	if p := Paginate([]int{1}, 5, 10); p.Items == nil || len(p.Items) != 0 {
		t.Errorf("a page past the end is %#v, want []", p.Items)
	}
}

func TestCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		run  func(c *Cache[string, int]) bool // whether "k" is served at the end
		want bool
	}{
		{"fresh", func(c *Cache[string, int]) bool {
			c.Add("k", 1, c.Begin(), 7, t0)
			_, ok := c.Get("k", t0.Add(4*time.Second))
			return ok
		}, true},
		{"expired", func(c *Cache[string, int]) bool {
			c.Add("k", 1, c.Begin(), 7, t0)
			_, ok := c.Get("k", t0.Add(5*time.Second))
			return ok
		}, false},
		{"clock went back", func(c *Cache[string, int]) bool {
			c.Add("k", 1, c.Begin(), 7, t0)
			_, ok := c.Get("k", t0.Add(-time.Second))
			return ok
		}, false},
		{"dropped", func(c *Cache[string, int]) bool {
			c.Add("k", 1, c.Begin(), 7, t0)
			c.Drop(1)
			_, ok := c.Get("k", t0)
			return ok
		}, false},
		{"other account dropped", func(c *Cache[string, int]) bool {
			c.Add("k", 1, c.Begin(), 7, t0)
			c.Drop(2)
			_, ok := c.Get("k", t0)
			return ok
		}, true},
		{"read began before a drop", func(c *Cache[string, int]) bool {
			seq := c.Begin()
			c.Drop(1) // a write lands while the read is under way
			c.Add("k", 1, seq, 7, t0)
			_, ok := c.Get("k", t0)
			return ok
		}, false},
		{"read began after a drop", func(c *Cache[string, int]) bool {
			c.Drop(1)
			c.Add("k", 1, c.Begin(), 7, t0)
			_, ok := c.Get("k", t0)
			return ok
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(NewCache[string, int](10, 5*time.Second)); got != tt.want {
				t.Errorf("served %v, want %v", got, tt.want)
			}
		})
	}
	c := NewCache[int, int](2, time.Minute)
	for i := range 3 {
		c.Add(i, 1, c.Begin(), i, t0)
	}
	if _, ok := c.Get(0, t0); ok {
		t.Error("a cache of 2 still holds the first of 3 entries")
	}
}

var (
	errBadTime = errors.New("bad time")
	errExpired = errors.New("expired")
	errBadSig  = errors.New("bad signature")
	errReplay  = errors.New("replay")
	errNoKey   = errors.New("no key")
)

func TestSigned(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	spent := map[string]bool{}
	s := &Signed[string, []string, int]{
		Window: 5 * time.Minute, Unit: time.Second, Now: func() time.Time { return now },
		Lookup: func(_ context.Context, id string, _ time.Time) (string, error) {
			if id != "alice" {
				return "", errNoKey
			}
			return "key-of-alice", nil
		},
		Canonical: func(_ string, m []string, i int) (string, bool, error) {
			if i >= len(m) {
				return "", false, nil
			}
			return m[i], true, nil
		},
		Sign: func(k, msg string) string { return k + "|" + msg },
		Spend: func(_ context.Context, _ string, m []string, o Opened[string]) (int, bool, error) {
			n := fmt.Sprint(o.At.Unix(), m)
			if spent[n] {
				return 0, false, nil
			}
			spent[n] = true
			return len(spent), true, nil
		},
		BadTime: errBadTime, Expired: errExpired, BadSignature: errBadSig, Replay: errReplay,
	}
	ts := fmt.Sprint(now.Unix())
	tests := []struct {
		name, key, ts, sig string
		msgs               []string
		want               error
	}{
		{"good", "alice", ts, "key-of-alice|a", []string{"a"}, nil},
		{"replayed", "alice", ts, "key-of-alice|a", []string{"a"}, errReplay},
		{"second candidate", "alice", ts, "key-of-alice|c", []string{"b", "c"}, nil},
		{"edge of the window", "alice", fmt.Sprint(now.Add(-5 * time.Minute).Unix()), "key-of-alice|d", []string{"d"}, nil},
		{"past the window", "alice", fmt.Sprint(now.Add(-5*time.Minute - time.Second).Unix()), "key-of-alice|e", []string{"e"}, errExpired},
		{"ahead of the window", "alice", fmt.Sprint(now.Add(5*time.Minute + time.Second).Unix()), "key-of-alice|e", []string{"e"}, errExpired},
		{"not a number", "alice", "soon", "x", []string{"e"}, errBadTime},
		{"unknown key", "bob", ts, "x", []string{"e"}, errNoKey},
		{"forged", "alice", ts, "key-of-mallory|f", []string{"f"}, errBadSig},
		// The forged request above did not spend its nonce: the client's own request still passes.
		{"nonce of a forgery unspent", "alice", ts, "key-of-alice|f", []string{"f"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := s.Open(context.Background(), tt.key, tt.ts)
			if err == nil {
				_, err = s.Verify(context.Background(), o, tt.msgs, tt.sig)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

type note struct {
	Text string `json:"text"`
}

func TestDocs(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx, st, now := context.Background(), open(t), time.Unix(1_700_000_000, 0)
		var accts [2]store.Account
		for i := range accts {
			a, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprint("a", i), Role: store.RoleUser})
			if err != nil {
				t.Fatal(err)
			}
			accts[i] = a
		}
		r, err := PutDoc(ctx, st, store.Record{AccountID: accts[0].ID, Kind: "t.note", Key: "k1", ParentID: 0}, note{"hello"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			get  func() (Doc[note], error)
			want error
		}{
			{"by id", func() (Doc[note], error) { return GetDoc[note](ctx, st, accts[0].ID, "t.note", r.ID) }, nil},
			{"by key", func() (Doc[note], error) { return GetDocByKey[note](ctx, st, accts[0].ID, "t.note", "k1") }, nil},
			{"another account's", func() (Doc[note], error) { return GetDoc[note](ctx, st, accts[1].ID, "t.note", r.ID) }, store.ErrNotFound},
			{"another kind", func() (Doc[note], error) { return GetDoc[note](ctx, st, accts[0].ID, "t.other", r.ID) }, store.ErrNotFound},
		}
		for _, tt := range tests {
			d, err := tt.get()
			if !errors.Is(err, tt.want) || err == nil && d.Doc.Text != "hello" {
				t.Errorf("%s: %+v, %v", tt.name, d, err)
			}
		}
		if _, err := PutDoc(ctx, st, store.Record{AccountID: accts[0].ID, Kind: "t.note", Key: "k1"}, note{"again"}, now); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a second k1: %v, want ErrConflict", err)
		}
		list, err := ListDocs[note](ctx, st, accts[0].ID, "t.note", -1)
		if err != nil || len(list) != 1 || list[0].Doc.Text != "hello" {
			t.Errorf("ListDocs = %+v, %v", list, err)
		}
		if _, err := PutDoc(ctx, st, store.Record{AccountID: accts[0].ID, Kind: "t.note"}, func() {}, now); err == nil {
			t.Error("an unencodable document was written")
		}
	})
}

func TestFail(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{store.ErrNotFound, 404}, {store.ErrStale, 409}, {store.ErrConflict, 409}, {fmt.Errorf("%w: x", engine.ErrInvalid), 400},
		{&http.MaxBytesError{Limit: 9}, 413}, {blob.ErrTooLarge, 413}, {errors.New("boom"), 500},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		Fail(w, httptest.NewRequest("GET", "/", nil), discard(), tt.err)
		var body map[string]string
		if w.Code != tt.status || json.Unmarshal(w.Body.Bytes(), &body) != nil || body["error"] == "" {
			t.Errorf("%v: %d %s", tt.err, w.Code, w.Body)
		}
	}
}
