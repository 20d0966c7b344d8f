package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"taskcenter/internal/app"
	"taskcenter/internal/engine"
)

// TestReplicasShareS3Blobs: two replicas on one PostgreSQL database keep their blobs in one S3 bucket
// (a loopback server speaking the S3 protocol stands in for the service), so content uploaded through
// one replica is served, whole and by range, by the other.
func TestReplicasShareS3Blobs(t *testing.T) {
	s3 := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer s3.Close()
	url := pgSchemaURL(t)
	ctx := context.Background()
	replica := func(creds *app.Credentials) *stack {
		st, err := openPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		blobs, err := app.OpenBlobs(ctx, "s3://key:secret@"+s3.Listener.Addr().String()+"/taskcenter/blobs?insecure=true", "")
		if err != nil {
			t.Fatal(err)
		}
		return buildStack(t, st, engine.Config{}, stackOptions{creds: creds, blobs: blobs})
	}
	a := replica(nil)
	b := replica(&a.creds)

	content := make([]byte, 3<<20+17)
	rand.Read(content)
	req, _ := http.NewRequest("POST", a.srv.URL+"/api/v1/blobs", bytes.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+a.creds.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Hash string
		Size int64
	}
	json.NewDecoder(resp.Body).Decode(&ref)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || ref.Size != int64(len(content)) {
		t.Fatalf("upload through replica a: HTTP %d, %+v", resp.StatusCode, ref)
	}

	get := func(rangeHeader string) (int, []byte) {
		req, _ := http.NewRequest("GET", b.srv.URL+"/api/v1/blobs/"+ref.Hash, nil)
		req.Header.Set("Authorization", "Bearer "+a.creds.AdminToken)
		if rangeHeader != "" {
			req.Header.Set("Range", rangeHeader)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, body := get(""); code != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("download through replica b: HTTP %d, %d bytes, equal %v", code, len(body), bytes.Equal(body, content))
	}
	from := len(content) - 1000
	if code, body := get(fmt.Sprintf("bytes=%d-", from)); code != http.StatusPartialContent || !bytes.Equal(body, content[from:]) {
		t.Fatalf("range through replica b: HTTP %d, %d bytes", code, len(body))
	}
	if code, _ := get("bytes=0-0"); code != http.StatusPartialContent {
		t.Fatalf("one-byte range: HTTP %d", code)
	}
}
