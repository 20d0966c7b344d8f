package facade_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"taskcenter/internal/facade"
)

// A dialect in a few lines: its code table, its envelope, and a handler that binds parameters. The
// render and RPA facades are this, plus their signed-request check (facade.Signed) and routes.
func Example() {
	codes := &facade.Codes{
		OK: 0, Internal: 500, Invalid: 400, NotFound: 404, Missing: 400, BadParam: 400, TooLong: 400,
		Text: map[int]string{0: "ok", 400: "bad request", 404: "no such thing", 500: "oops"}, Prefixed: true,
	}
	env := facade.NewEnvelope(facade.Layout{
		Codes: codes, ContentType: "application/json", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Fields: []facade.Field{{Name: "status", Part: facade.PartCode}, {Name: "text", Part: facade.PartMessage},
			{Name: "payload", Part: facade.PartData, OmitEmpty: true}},
	})
	greet := func(_ context.Context, r *http.Request) (any, error) {
		p := facade.Params{Form: r.URL.Query(), Codes: codes}
		name, err := p.Text("name", true, 10)
		if err != nil {
			return nil, err
		}
		times, err := p.Int("times", false, 1, 3, 1)
		if err != nil {
			return nil, err
		}
		return strings.Repeat("hello "+name+" ", int(times)), nil
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		data, err := greet(r.Context(), r)
		env.Write(w, r, data, err)
	}
	for _, q := range []string{"name=ann&times=2", "times=2", "name=ann&times=9"} {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest("GET", "/greet?"+q, nil))
		fmt.Print(w.Body.String())
	}
	// Output:
	// {"status":0,"text":"ok","payload":"hello ann hello ann "}
	// {"status":400,"text":"bad request: name is required"}
	// {"status":400,"text":"bad request: times must be between 1 and 3"}
}
