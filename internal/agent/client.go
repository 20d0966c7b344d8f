package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/agentapi"
)

// APIError is a non-2xx answer of the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func statusOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsStale reports a 409: the unit's lease (epoch) is no longer this agent's.
func IsStale(err error) bool { return statusOf(err) == http.StatusConflict }

// IsUnauthorized reports a 401: the token is not (or no longer) valid.
func IsUnauthorized(err error) bool { return statusOf(err) == http.StatusUnauthorized }

// IsPermanent reports an answer that repeating the same request cannot change: a 4xx other than
// 401 (new token), 408 and 429 (retry later).
func IsPermanent(err error) bool {
	s := statusOf(err)
	return s >= 400 && s < 500 && s != http.StatusUnauthorized && s != http.StatusRequestTimeout &&
		s != http.StatusTooManyRequests
}

// Client speaks the agent protocol (api/agent.yaml). It holds the worker token and is safe for
// concurrent use; it does not retry, callers decide with IsStale, IsUnauthorized and IsPermanent.
type Client struct {
	base string
	hc   *http.Client

	mu    sync.Mutex
	token string
}

// NewClient returns a client of the server at baseURL. hc may be nil for a default client; it should
// have no overall Timeout because lease requests long-poll and uploads stream (calls carry deadlines
// of their own).
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Token returns the worker token in use.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// SetToken sets the worker token for every call but Register.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = token
}

// callTimeout bounds a JSON call that is not a long poll.
const callTimeout = 30 * time.Second

// Register enrolls the agent with the enrollment token and keeps the worker token it returns.
func (c *Client) Register(ctx context.Context, enrollToken string, req agentapi.RegisterRequest) (agentapi.RegisterResponse, error) {
	var resp agentapi.RegisterResponse
	if err := c.do(ctx, agentapi.PathRegister, enrollToken, req, &resp, callTimeout); err != nil {
		return resp, fmt.Errorf("register: %w", err)
	}
	if resp.WorkerToken == "" {
		return resp, errors.New("register: the server returned no worker token")
	}
	c.SetToken(resp.WorkerToken)
	return resp, nil
}

// Heartbeat reports the running units; the answer lists the units to stop.
func (c *Client) Heartbeat(ctx context.Context, req agentapi.HeartbeatRequest) (agentapi.HeartbeatResponse, error) {
	var resp agentapi.HeartbeatResponse
	if err := c.do(ctx, agentapi.PathHeartbeat, c.Token(), req, &resp, callTimeout); err != nil {
		return resp, fmt.Errorf("heartbeat: %w", err)
	}
	return resp, nil
}

// Lease long-polls for up to req.Max units.
func (c *Client) Lease(ctx context.Context, req agentapi.LeaseRequest) (agentapi.LeaseResponse, error) {
	var resp agentapi.LeaseResponse
	timeout := time.Duration(req.WaitSeconds)*time.Second + callTimeout
	if err := c.do(ctx, agentapi.PathLease, c.Token(), req, &resp, timeout); err != nil {
		return resp, fmt.Errorf("lease: %w", err)
	}
	return resp, nil
}

// Progress reports a unit's progress and log chunk.
func (c *Client) Progress(ctx context.Context, req agentapi.ProgressRequest) error {
	if err := c.do(ctx, agentapi.PathProgress, c.Token(), req, nil, callTimeout); err != nil {
		return fmt.Errorf("progress of unit %d: %w", req.UnitID, err)
	}
	return nil
}

// Complete reports finished units in one batch.
func (c *Client) Complete(ctx context.Context, req agentapi.CompleteRequest) (agentapi.CompleteResponse, error) {
	var resp agentapi.CompleteResponse
	if err := c.do(ctx, agentapi.PathComplete, c.Token(), req, &resp, callTimeout); err != nil {
		return resp, fmt.Errorf("complete %d units: %w", len(req.Units), err)
	}
	return resp, nil
}

// Fail reports a failed attempt.
func (c *Client) Fail(ctx context.Context, req agentapi.FailRequest) error {
	if err := c.do(ctx, agentapi.PathFail, c.Token(), req, nil, callTimeout); err != nil {
		return fmt.Errorf("fail unit %d: %w", req.UnitID, err)
	}
	return nil
}

// Release hands units back (graceful shutdown).
func (c *Client) Release(ctx context.Context, req agentapi.ReleaseRequest) error {
	if err := c.do(ctx, agentapi.PathRelease, c.Token(), req, nil, callTimeout); err != nil {
		return fmt.Errorf("release %d units: %w", len(req.Units), err)
	}
	return nil
}

// Upload streams body (size bytes, -1 if unknown) as output name of the unit lease ref.
func (c *Client) Upload(ctx context.Context, ref agentapi.UnitRef, name string, body io.Reader, size int64) (agentapi.OutputResponse, error) {
	var resp agentapi.OutputResponse
	u := c.base + agentapi.PathOutput + "/" + strconv.FormatInt(ref.UnitID, 10) + "/" + url.PathEscape(name) +
		"?epoch=" + strconv.FormatInt(ref.Epoch, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return resp, fmt.Errorf("upload %s: %w", name, err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if err := c.send(req, c.Token(), &resp); err != nil {
		return resp, fmt.Errorf("upload %s of unit %d: %w", name, ref.UnitID, err)
	}
	return resp, nil
}

// UnitSpec reads the current spec of a unit the agent holds, and the outputs it already has.
func (c *Client) UnitSpec(ctx context.Context, ref agentapi.UnitRef) (agentapi.UnitSpecResponse, error) {
	var resp agentapi.UnitSpecResponse
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	u := c.base + agentapi.PathUnitSpec + "/" + strconv.FormatInt(ref.UnitID, 10) + "?epoch=" + strconv.FormatInt(ref.Epoch, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return resp, fmt.Errorf("spec of unit %d: %w", ref.UnitID, err)
	}
	if err := c.send(req, c.Token(), &resp); err != nil {
		return resp, fmt.Errorf("spec of unit %d: %w", ref.UnitID, err)
	}
	return resp, nil
}

// Blob streams the blob with the given hash into w and returns its size.
func (c *Client) Blob(ctx context.Context, hash string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+agentapi.PathBlob+"/"+url.PathEscape(hash), nil)
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", hash, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", hash, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("blob %s: %w", hash, apiError(resp))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("blob %s: read body: %w", hash, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("blob %s: got %d of %d bytes", hash, n, resp.ContentLength)
	}
	return n, nil
}

// BlobAllowed asks the server whether this worker may read the blob now (HEAD, no content): what the
// agent checks before handing a unit a cached copy, since the server grants a blob only to a unit
// that names it and whose account may read it.
func (c *Client) BlobAllowed(ctx context.Context, hash string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.base+agentapi.PathBlob+"/"+url.PathEscape(hash), nil)
	if err != nil {
		return fmt.Errorf("blob %s: %w", hash, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("blob %s: %w", hash, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("blob %s: %w", hash, apiError(resp))
	}
	return nil
}

func (c *Client) do(ctx context.Context, path, token string, in, out any, timeout time.Duration) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.send(req, token, out)
}

func (c *Client) send(req *http.Request, token string, out any) error {
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return apiError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, agentapi.MaxBodyBytes))
		return nil
	}
	// Not agentapi.Decode: a newer server may add fields the agent does not know yet.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16*agentapi.MaxBodyBytes)).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// apiError reads the agentapi.Error body of a non-2xx answer, falling back to the raw text.
func apiError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e agentapi.Error
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}
