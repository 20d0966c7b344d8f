package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"taskcenter/internal/auth"
)

// Client calls a render farm API (taskcenter's or the original vendor's) and signs every request the
// way the document says. It is safe for concurrent use.
type Client struct {
	BaseURL   string // scheme://host[:port]
	AccessID  string
	AccessKey string
	Platform  string // header platform; "2" when empty
	Channel   string // header channel; "4" (API) when empty
	HTTP      *http.Client
	// Now and Nonce may be replaced in tests; they default to the clock and a random nonce.
	Now   func() time.Time
	Nonce func() string

	// free holds read buffers between calls, at most maxFreeAnswers: the envelope's data is copied
	// out of the buffer while it is decoded, so the buffer is free again once the call returns. A
	// task list's answer is some 25 KB, and a fresh buffer per call was a sixth of the bytes a load
	// benchmark allocated, and so of its garbage collections. Not a sync.Pool: that is emptied at
	// every collection, which came more often than one client's calls.
	mu   sync.Mutex
	free []*[]byte
}

// maxFreeAnswers bounds the read buffers a Client keeps: one per call it makes at once, up to this.
const maxFreeAnswers = 8

// Clone returns a client with c's settings and buffers of its own, to change some of the settings
// (a Client holds its buffers, so it is not copied by value).
func (c *Client) Clone() *Client {
	return &Client{BaseURL: c.BaseURL, AccessID: c.AccessID, AccessKey: c.AccessKey, Platform: c.Platform,
		Channel: c.Channel, HTTP: c.HTTP, Now: c.Now, Nonce: c.Nonce}
}

// APIError is an answer whose code is not 200.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("render api: code %d: %s", e.Code, e.Message) }

// Call posts body (any JSON-marshalable value, or nil for {}) to path and decodes the answer's data
// into out (may be nil). It returns the envelope; a code other than 200 is an *APIError.
func (c *Client) Call(ctx context.Context, path string, body, out any) (*Envelope, error) {
	raw := []byte("{}")
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	return c.CallRaw(ctx, path, raw, out)
}

// CallRaw is Call with the body as bytes, sent exactly as given (tests send malformed bodies).
func (c *Client) CallRaw(ctx context.Context, path string, raw []byte, out any) (*Envelope, error) {
	req, err := c.Request(ctx, path, raw)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("render api %s: %w", path, err)
	}
	defer resp.Body.Close()
	buf := c.readBuffer()
	defer c.putReadBuffer(buf)
	b, err := readAnswer(resp, buf)
	if err != nil {
		return nil, fmt.Errorf("render api %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("render api %s: HTTP %d: %s", path, resp.StatusCode, tailText(string(b), 200))
	}
	var env Envelope
	if err := gojson.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("render api %s: decode answer: %w", path, err)
	}
	if env.Code != CodeSuccess {
		return &env, &APIError{Code: env.Code, Message: env.Message}
	}
	if out != nil && len(env.Data) > 0 {
		if err := gojson.Unmarshal(env.Data, out); err != nil {
			return &env, fmt.Errorf("render api %s: decode data: %w", path, err)
		}
	}
	return &env, nil
}

// maxAnswerBytes bounds an answer the client reads.
const maxAnswerBytes = 64 << 20

func (c *Client) readBuffer() *[]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return new([]byte)
}

// maxPooledAnswer bounds the read buffers kept for reuse, so that one huge answer is not held forever.
const maxPooledAnswer = 1 << 20

func (c *Client) putReadBuffer(b *[]byte) {
	if cap(*b) > maxPooledAnswer {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.free) < maxFreeAnswers {
		c.free = append(c.free, b)
	}
}

// readAnswer reads the body into *buf, grown to the announced length (or as needed when none is
// announced), and returns the bytes read. The result is only valid until buf is reused.
func readAnswer(resp *http.Response, buf *[]byte) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxAnswerBytes {
		b := slices.Grow((*buf)[:0], int(n))[:n]
		*buf = b
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	w := bytes.NewBuffer((*buf)[:0])
	_, err := w.ReadFrom(io.LimitReader(resp.Body, maxAnswerBytes))
	*buf = w.Bytes()
	return *buf, err
}

// Request builds the signed request without sending it.
func (c *Client) Request(ctx context.Context, path string, raw []byte) (*http.Request, error) {
	u, err := url.Parse(strings.TrimRight(c.BaseURL, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("render api url: %w", err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	nonce := func() string { return strconv.FormatUint(uint64(time.Now().UnixNano())^randUint(), 10) }
	if c.Nonce != nil {
		nonce = c.Nonce
	}
	h := map[string]string{
		"accessId": c.AccessID, "channel": or(c.Channel, "4"), "platform": or(c.Platform, "2"),
		"UTCTimestamp": strconv.FormatInt(now().Unix(), 10), "nonce": nonce(), "version": "1.0.0",
	}
	msg, err := Canonical(u.Host, u.Path, h, raw)
	if err != nil {
		// Not a JSON object: sign the headers alone and let the server say what is wrong (600).
		if msg, err = Canonical(u.Host, u.Path, h, nil); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = []string{v} // the document's spelling, not canonicalised
	}
	req.Header["signature"] = []string{Sign([]byte(c.AccessKey), msg)}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func randUint() uint64 {
	v, _ := strconv.ParseUint(auth.RandomHex(8), 16, 64)
	return v
}
