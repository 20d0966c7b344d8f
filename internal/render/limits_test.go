package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"taskcenter/internal/store"
)

// countingReader counts the bytes a handler took from a request body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// heavyBody is {"taskIds":[1,2,...,n]}: a few bytes per element, a map entry each once canonicalised.
func heavyBody(n int) []byte {
	b := []byte(`{"taskIds":[`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return append(b, "]}"...)
}

// TestBodyReadAfterAccessID: the render API looks the accessId up, and checks a declared length,
// before it reads a byte of the body, and refuses a body whose canonical form would be huge without
// decoding it.
func TestBodyReadAfterAccessID(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		path := "/api/render/task/queryTaskInfo"
		unknown := e.cl.Clone()
		unknown.AccessID = "AKNOBODY"
		heavy := heavyBody(999_999)
		tests := []struct {
			name      string
			cl        *Client
			body      []byte
			length    int64 // the declared Content-Length; -1 sends none
			want      int
			wantRead0 bool // nothing of the body may be read
		}{
			{"unknown accessId, huge list", unknown, heavy, int64(len(heavy)), CodeSignatureInvalid, true},
			{"unknown accessId, no length", unknown, heavy, -1, CodeSignatureInvalid, true},
			{"declared length over the limit", e.cl, heavy, maxBodyBytes + 1, CodeInvalid, true},
			{"too many values to canonicalise", e.cl, heavyBody(maxBodyValues + 1), -2, CodeInvalid, false},
			{"nested too deep", e.cl, append(append(append([]byte(`{"a":`), bytes.Repeat([]byte("["), maxBodyDepth+1)...), bytes.Repeat([]byte("]"), maxBodyDepth+1)...), '}'), -2, CodeInvalid, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := tt.cl.Request(e.ctx, path, []byte(`{}`))
				if err != nil {
					t.Fatal(err)
				}
				cr := &countingReader{r: bytes.NewReader(tt.body)}
				req.Body = io.NopCloser(cr)
				switch tt.length {
				case -2:
					req.ContentLength = int64(len(tt.body))
				default:
					req.ContentLength = tt.length
				}
				req.Host = req.URL.Host
				// As a server reading the wire would: header names canonicalised.
				h := http.Header{}
				for k, v := range req.Header {
					h[http.CanonicalHeaderKey(k)] = v
				}
				req.Header = h
				rec := httptest.NewRecorder()
				e.mux.ServeHTTP(rec, req)
				var env Envelope
				if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
					t.Fatalf("answer %q: %v", rec.Body, err)
				}
				if env.Code != tt.want {
					t.Fatalf("code %d (%s), want %d", env.Code, env.Message, tt.want)
				}
				if tt.wantRead0 && cr.n != 0 {
					t.Fatalf("read %d bytes of the body before refusing it", cr.n)
				}
			})
		}
	})
}

// TestCanonicalBounded: canonicalising a body of too many values refuses it before decoding, so the
// work it does is a scan, not an allocation per value.
func TestCanonicalBounded(t *testing.T) {
	heavy := heavyBody(999_999)
	h := map[string]string{"accessId": "AK", "nonce": "1", "UTCTimestamp": "1700000000"}
	var err error
	allocs := testing.AllocsPerRun(1, func() { _, err = Canonical("h", "/p", h, heavy) })
	if !errors.Is(err, errBadJSON) {
		t.Fatalf("Canonical of %d values: %v, want errBadJSON", 999_999, err)
	}
	if allocs > 100 {
		t.Fatalf("Canonical of a refused body made %.0f allocations", allocs)
	}
	// Within the bounds, bodies still canonicalise as before.
	if _, err := Canonical("h", "/p", h, heavyBody(maxListLen)); err != nil {
		t.Fatalf("a list of %d ids: %v", maxListLen, err)
	}
}

// TestTransferDeclaredSizes: a chunked upload that declares a file or chunk over the limits is
// refused before its body is read and leaves no upload behind.
func TestTransferDeclaredSizes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{MaxUploadBytes: 1 << 20, MaxFileBytes: 4 << 20})
		key := e.transferKey(e.cl)
		tests := []struct {
			name   string
			rng    string
			length int64
			want   int
		}{
			{"total of 9.2 EB", "bytes 0-9/9223372036854775807", 10, http.StatusRequestEntityTooLarge},
			{"total over MaxFileBytes", "bytes 0-9/4194305", 10, http.StatusRequestEntityTooLarge},
			{"chunk over MaxUploadBytes", "bytes 0-1048576/2097152", 1048577, http.StatusRequestEntityTooLarge},
			{"body longer than its chunk", "bytes 0-9/100", 11, http.StatusBadRequest},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cr := &countingReader{r: bytes.NewReader(make([]byte, tt.length))}
				req := httptest.NewRequest(http.MethodPut, transferPrefix+"/files?path=/big.bin", io.NopCloser(cr))
				req.ContentLength = tt.length
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Range", tt.rng)
				rec := httptest.NewRecorder()
				e.mux.ServeHTTP(rec, req)
				if rec.Code != tt.want {
					t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body, tt.want)
				}
				if cr.n != 0 {
					t.Fatalf("read %d bytes of a refused upload", cr.n)
				}
			})
		}
		if _, err := e.st.GetRecordByKey(e.ctx, e.acct.ID, recUpload, "/big.bin"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("upload state after refusals: %v", err)
		}
		// A file within the limits still arrives in chunks.
		e.upload(key, "/ok.bin", bytes.Repeat([]byte("x"), 3<<20), 1<<20)
	})
}
