package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"taskcenter/internal/testutil"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// reclaimer is what a sweep of unreferenced blobs uses of a driver.
type reclaimer interface {
	Store
	Keyed
	List(ctx context.Context, fn func(Info) error) error
	DeleteIfUnused(ctx context.Context, hash string, cutoff time.Time, unused func(context.Context) (bool, error)) (bool, int64, error)
}

// ageing is a driver under test with its clock: now is the store's idea of the present, and
// advance makes everything stored so far older by d.
type ageing struct {
	s       reclaimer
	now     func() time.Time
	advance func(d time.Duration)
}

// testReclaim is the contract of listing and reclaiming on both drivers, the races with Put
// included.
func testReclaim(t *testing.T, a ageing) {
	ctx := context.Background()
	const grace = time.Hour
	put := func(data string) Ref {
		t.Helper()
		ref, err := a.s.Put(ctx, bytes.NewReader([]byte(data)), 0)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	exists := func(hash string) bool {
		t.Helper()
		rc, _, err := a.s.Open(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		return true
	}
	list := func() map[string]Info {
		t.Helper()
		got := map[string]Info{}
		if err := a.s.List(ctx, func(i Info) error { got[i.Hash] = i; return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	yes := func(context.Context) (bool, error) { return true, nil }

	old, other, fresh := put("old and unreferenced"), put("old, gets a reference"), Ref{}
	if err := a.s.PutKey(ctx, "site/index.html", []byte("keyed objects are not blobs"), "text/html"); err != nil {
		t.Fatal(err)
	}
	a.advance(2 * grace)
	fresh = put("just stored")
	cutoff := a.now().Add(-grace)

	got := list()
	if len(got) != 3 {
		t.Fatalf("List = %v, want the three blobs and no keyed object", got)
	}
	if i := got[old.Hash]; i.Size != old.Size || i.ModTime.After(cutoff) {
		t.Fatalf("old blob listed as %+v (cutoff %v)", i, cutoff)
	}
	if i := got[fresh.Hash]; !i.ModTime.After(cutoff) {
		t.Fatalf("fresh blob listed as %+v (cutoff %v)", i, cutoff)
	}
	stop := errors.New("stop")
	if err := a.s.List(ctx, func(Info) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("List error = %v, want fn's", err)
	}

	refused := errors.New("store down")
	tests := []struct {
		name    string
		hash    string
		unused  func(context.Context) (bool, error)
		deleted bool
		wantErr error
		present bool // after the call
	}{
		{"young blob", fresh.Hash, yes, false, nil, true},
		{"referenced by the re-check", other.Hash, func(context.Context) (bool, error) { return false, nil }, false, nil, true},
		{"re-check fails", other.Hash, func(context.Context) (bool, error) { return false, refused }, false, refused, true},
		{"stored again during the re-check", other.Hash, func(context.Context) (bool, error) {
			// A Put of the same bytes (another account's upload) and a reader, while the sweep decides.
			put("old, gets a reference")
			if !exists(other.Hash) {
				t.Error("the blob cannot be read while the sweep checks it")
			}
			return true, nil
		}, false, nil, true},
		{"old and unreferenced", old.Hash, yes, true, nil, false},
		{"already gone", old.Hash, yes, false, nil, false},
		{"not a hash", "../keyed/site/index.html", yes, false, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deleted, size, err := a.s.DeleteIfUnused(ctx, tc.hash, cutoff, tc.unused)
			if !errors.Is(err, tc.wantErr) || deleted != tc.deleted {
				t.Fatalf("DeleteIfUnused = %v, %v, want %v, %v (cutoff %v, listed %+v)", deleted, err, tc.deleted, tc.wantErr, cutoff, list()[tc.hash])
			}
			if deleted && size != old.Size {
				t.Fatalf("freed %d bytes, want %d", size, old.Size)
			}
			if ValidHash(tc.hash) && exists(tc.hash) != tc.present {
				t.Fatalf("blob present = %v, want %v", !tc.present, tc.present)
			}
		})
	}
	// Stored again: its time is fresh, so a sweep that listed it as old leaves it.
	a.advance(2 * grace)
	put("just stored")
	cutoff = a.now().Add(-grace)
	if i := list()[fresh.Hash]; !i.ModTime.After(cutoff) {
		t.Fatalf("a blob stored again keeps its old time: %+v (cutoff %v)", i, cutoff)
	}
	if deleted, _, err := a.s.DeleteIfUnused(ctx, fresh.Hash, cutoff, yes); deleted || err != nil {
		t.Fatalf("DeleteIfUnused of a blob stored again = %v, %v", deleted, err)
	}
	if rc, _, err := a.s.OpenKey(ctx, "site/index.html"); err != nil {
		t.Fatalf("keyed object after the sweep: %v", err)
	} else {
		rc.Close()
	}
}

func TestLocalReclaim(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	advance := func(d time.Duration) { testutil.AgeFiles(t, dir, d) }
	testReclaim(t, ageing{s: s, now: time.Now, advance: advance})
}

// TestLocalQuarantineRestored: a blob a sweep left in quarantine (it stopped between the rename and
// the delete) is readable, and the next listing puts it back.
func TestLocalQuarantineRestored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Put(ctx, bytes.NewReader([]byte("interrupted")), 0)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, quarantineDir), 0o755))
	must(os.Rename(s.path(ref.Hash), s.quarantinePath(ref.Hash)))
	rc, _, err := s.Open(ctx, ref.Hash)
	must(err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "interrupted" {
		t.Fatalf("read %q from quarantine", b)
	}
	n := 0
	must(s.List(ctx, func(i Info) error { n++; return nil }))
	if n != 1 {
		t.Fatalf("listed %d blobs, want the restored one", n)
	}
	if _, err := os.Stat(s.path(ref.Hash)); err != nil {
		t.Fatalf("not restored: %v", err)
	}
	if _, err := os.Stat(s.quarantinePath(ref.Hash)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("still in quarantine: %v", err)
	}
}

// movableTime is a clock for the S3 stand-in's object times that a test moves.
type movableTime struct {
	mu sync.Mutex
	at time.Time
}

func (m *movableTime) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at
}

func (m *movableTime) Since(t time.Time) time.Duration { return m.Now().Sub(t) }

func (m *movableTime) advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at = m.at.Add(d)
}

func TestS3Reclaim(t *testing.T) {
	clock := &movableTime{at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	// Object times come from the moved clock, so the stand-in cannot check a request's signing time.
	srv := httptest.NewServer(gofakes3.New(s3mem.New(s3mem.WithTimeSource(clock)),
		gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0)).Server())
	defer srv.Close()
	cfg, err := ParseS3URL("s3://test-key:test-secret@" + srv.Listener.Addr().String() + "/blobs/tc?insecure=true&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TempDir = t.TempDir()
	s, err := NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testReclaim(t, ageing{s: s, now: clock.Now, advance: clock.advance})
}
