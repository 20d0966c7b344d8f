package rpa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client calls an RPA OAPI server the way the document's clients do: it logs in for an access
// token, signs every call, and renews the token with the refresh token when it has expired.
type Client struct {
	BaseURL string       // e.g. http://127.0.0.1:8080
	HTTP    *http.Client // nil: http.DefaultClient
	// Now is the clock used for timestamps; nil: time.Now.
	Now func() time.Time

	mu           sync.Mutex
	accessToken  string
	refreshToken string
	lastTS       int64
}

// APIError is a response whose code is not 0.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("rpa: code %d: %s", e.Code, e.Msg) }

// CodeOf returns the response code of an error from the client, or -1 when it is not an APIError.
func CodeOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return 0
	}
	return -1
}

// Response is an answer's envelope with the result left raw.
type Response struct {
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	Result json.RawMessage `json:"result"`
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// timestamp returns a fresh millisecond timestamp, strictly increasing within this client so that
// two identical calls in one millisecond do not look like a replay.
func (c *Client) timestamp() string {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := now().UnixMilli()
	if ts <= c.lastTS {
		ts = c.lastTS + 1
	}
	c.lastTS = ts
	return strconv.FormatInt(ts, 10)
}

// Tokens returns the current access and refresh tokens.
func (c *Client) Tokens() (access, refresh string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accessToken, c.refreshToken
}

// SetToken installs an access token obtained elsewhere (a robot's job-scoped token).
func (c *Client) SetToken(access string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accessToken, c.refreshToken = access, ""
}

// Login obtains an access token with a user name (or phone or e-mail) and password.
func (c *Client) Login(ctx context.Context, accessKey, secretKey string) error {
	return c.token(ctx, url.Values{"accessKey": {accessKey}, "secretKey": {secretKey}})
}

// Refresh trades the refresh token for a new pair.
func (c *Client) Refresh(ctx context.Context) error {
	_, rt := c.Tokens()
	if rt == "" {
		return errors.New("rpa: no refresh token")
	}
	return c.token(ctx, url.Values{"refreshToken": {rt}})
}

// JobLogin obtains a job-scoped token for a robot running unitID with epoch, from the job ticket in
// the unit's spec.
func (c *Client) JobLogin(ctx context.Context, ticket string, unitID, epoch int64) error {
	return c.token(ctx, url.Values{"jobTicket": {ticket}, "unitId": {strconv.FormatInt(unitID, 10)}, "epoch": {strconv.FormatInt(epoch, 10)}})
}

func (c *Client) token(ctx context.Context, q url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/oapi/v1/token?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("rpa: token request: %w", err)
	}
	var res tokenResult
	if err := c.roundTrip(req, &res); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accessToken, c.refreshToken = res.AccessToken, res.RefreshToken
	return nil
}

// Get calls a GET route with query parameters, signing the sorted parameters, and decodes the
// result into out (nil: ignore it).
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.retryExpired(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path+queryString(q), nil)
		if err != nil {
			return nil, err
		}
		c.sign(req, SortedParams(q))
		return req, nil
	}, out)
}

func queryString(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Send calls a POST, PUT or DELETE route with a JSON body (a value to marshal, or json.RawMessage /
// []byte sent as is), signing the raw body text.
func (c *Client) Send(ctx context.Context, method, path string, body any, out any) error {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case json.RawMessage:
		raw = b
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("rpa: encode body: %w", err)
		}
	}
	return c.retryExpired(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		c.sign(req, string(raw))
		return req, nil
	}, out)
}

// SendForm calls a route with an application/x-www-form-urlencoded body, signing the raw body text.
func (c *Client) SendForm(ctx context.Context, method, path string, form url.Values, out any) error {
	raw := form.Encode()
	return c.retryExpired(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, strings.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c.sign(req, raw)
		return req, nil
	}, out)
}

// Upload posts a multipart body: the text fields, and the file content under fileField with
// fileName. The signature covers the sorted text fields (see docs/compat/rpa.md).
func (c *Client) Upload(ctx context.Context, path string, fields url.Values, fileField, fileName string, content []byte, out any) error {
	return c.retryExpired(ctx, func() (*http.Request, error) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, vs := range fields {
			for _, v := range vs {
				if err := mw.WriteField(k, v); err != nil {
					return nil, err
				}
			}
		}
		fw, err := mw.CreateFormFile(fileField, fileName)
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write(content); err != nil {
			return nil, err
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, &buf)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		c.sign(req, SortedParams(fields))
		return req, nil
	}, out)
}

// Download fetches a shared file's bytes.
func (c *Client) Download(ctx context.Context, fileName string) ([]byte, error) {
	q := url.Values{"fileName": {fileName}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/oapi/v1/share/file/download?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	c.sign(req, SortedParams(q))
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("rpa: download: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rpa: download: %w", err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var r Response
		if err := json.Unmarshal(body, &r); err == nil && r.Code != 0 {
			return nil, &APIError{Code: r.Code, Msg: r.Msg}
		}
	}
	return body, nil
}

// sign sets the three headers of section 1.2.
func (c *Client) sign(req *http.Request, params string) {
	tok, _ := c.Tokens()
	ts := c.timestamp()
	req.Header.Set("accesstoken", tok)
	req.Header.Set("timestamp", ts)
	req.Header.Set("signature", SignRequest(tok, params, ts))
}

// retryExpired sends the request and, when the access token has expired and a refresh token is at
// hand, refreshes once and sends it again.
func (c *Client) retryExpired(ctx context.Context, build func() (*http.Request, error), out any) error {
	req, err := build()
	if err != nil {
		return fmt.Errorf("rpa: build request: %w", err)
	}
	err = c.roundTrip(req, out)
	if CodeOf(err) != CodeTokenExpired {
		return err
	}
	if _, rt := c.Tokens(); rt == "" {
		return err
	}
	if rerr := c.Refresh(ctx); rerr != nil {
		return err
	}
	if req, err = build(); err != nil {
		return fmt.Errorf("rpa: build request: %w", err)
	}
	return c.roundTrip(req, out)
}

func (c *Client) roundTrip(req *http.Request, out any) error {
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("rpa: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("rpa: %s %s: HTTP %d, undecodable answer: %w", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	if r.Code != 0 {
		return &APIError{Code: r.Code, Msg: r.Msg}
	}
	if out != nil && len(r.Result) > 0 && string(r.Result) != "null" {
		if err := json.Unmarshal(r.Result, out); err != nil {
			return fmt.Errorf("rpa: decode result of %s: %w", req.URL.Path, err)
		}
	}
	return nil
}
