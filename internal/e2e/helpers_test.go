package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/testutil"
)

func openPostgres(ctx context.Context, url string) (store.Store, error) {
	return postgres.Open(ctx, url)
}

// freeAddr finds a loopback port that is free now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHTTP waits until url answers 200.
func waitHTTP(t testing.TB, url string) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return fmt.Errorf("%s did not answer: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s answered HTTP %d", url, resp.StatusCode)
		}
		return nil
	})
}

// adminClient calls the native API.
type adminClient struct {
	base, token string
}

func newAdminClient(base, token string) *adminClient { return &adminClient{base: base, token: token} }

func (c *adminClient) do(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

func (c *adminClient) mustDo(t testing.TB, method, path string, in, out any) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error { // the server may be restarting
		code, err := c.do(method, path, in, out)
		if err == nil && code < 300 {
			return nil
		}
		if err == nil && code < 500 {
			t.Fatalf("%s %s: HTTP %d", method, path, code)
		}
		return fmt.Errorf("%s %s kept failing: HTTP %d, %v", method, path, code, err)
	})
}
