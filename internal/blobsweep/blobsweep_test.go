package blobsweep_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/blob"
	"taskcenter/internal/blobsweep"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// sweptStore is a blob driver the sweep can run over.
type sweptStore interface {
	blob.Store
	blobsweep.Blobs
}

// blobDriver is a blob driver under test with its clock: now is the store's present, age makes
// everything stored so far older by d.
type blobDriver struct {
	name string
	open func(t *testing.T) (s sweptStore, now func() time.Time, age func(d time.Duration))
}

var blobDrivers = []blobDriver{
	{"local", func(t *testing.T) (sweptStore, func() time.Time, func(time.Duration)) {
		dir := t.TempDir()
		s, err := blob.NewLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		age := func(d time.Duration) { testutil.AgeFiles(t, dir, d) }
		return s, time.Now, age
	}},
	{"s3", func(t *testing.T) (sweptStore, func() time.Time, func(time.Duration)) {
		clock := &objectClock{at: time.Now()}
		srv := httptest.NewServer(gofakes3.New(s3mem.New(s3mem.WithTimeSource(clock)),
			gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0)).Server())
		t.Cleanup(srv.Close)
		cfg, err := blob.ParseS3URL("s3://k:s@" + srv.Listener.Addr().String() + "/blobs?insecure=true&region=us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		cfg.TempDir = t.TempDir()
		s, err := blob.NewS3(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s, clock.Now, clock.advance
	}},
}

// objectClock is the S3 stand-in's clock for object times, moved by the test.
type objectClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *objectClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *objectClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *objectClock) advance(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

// TestSweep, on both store drivers and both blob drivers: a blob whose last reference was dropped
// (a deleted file) and one nobody ever referred to are deleted once older than the grace period; a
// blob another account still refers to and a fresh unreferenced one (an upload whose reference is
// not written yet) stay; the metrics and the log line say what was reclaimed.
func TestSweep(t *testing.T) {
	const grace = time.Hour
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, bd := range blobDrivers {
			t.Run(bd.name, func(t *testing.T) {
				ctx := context.Background()
				st := open(t)
				blobs, now, age := bd.open(t)
				put := func(s string) blob.Ref {
					t.Helper()
					ref, err := blobs.Put(ctx, strings.NewReader(s), 0)
					if err != nil {
						t.Fatal(err)
					}
					return ref
				}
				a, err := st.CreateAccount(ctx, store.Account{Name: "a", Role: store.RoleUser, CreatedAt: now(), UpdatedAt: now()})
				must(t, err)
				b, err := st.CreateAccount(ctx, store.Account{Name: "b", Role: store.RoleUser, CreatedAt: now(), UpdatedAt: now()})
				must(t, err)

				deleted, shared, orphan := put("a deleted recording"), put("a file both accounts hold"), put("never referred to")
				must(t, st.AddBlobRefs(ctx, a.ID, []string{deleted.Hash, shared.Hash}, now()))
				must(t, st.AddBlobRefs(ctx, b.ID, []string{shared.Hash}, now()))
				age(2 * grace)
				fresh := put("uploaded, its reference not yet written")
				_, err = st.DropBlobRefs(ctx, a.ID, []string{deleted.Hash, shared.Hash}) // account a deletes its files
				must(t, err)

				reg := prometheus.NewRegistry()
				var logs bytes.Buffer
				sw, err := blobsweep.New(blobsweep.Config{Store: st, Blobs: blobs, Grace: grace, Batch: 1, Registry: reg,
					Log: slog.New(slog.NewTextHandler(&logs, nil))})
				must(t, err)
				res, err := sw.Run(ctx, now())
				must(t, err)
				want := blobsweep.Result{Blobs: 4, Bytes: deleted.Size + shared.Size + orphan.Size + fresh.Size, Old: 3,
					Unreferenced: 2, Reclaimed: 2, BytesReclaimed: deleted.Size + orphan.Size}
				if res != want {
					t.Fatalf("Run = %+v, want %+v", res, want)
				}
				for _, tc := range []struct {
					name string
					ref  blob.Ref
					kept bool
				}{{"deleted file", deleted, false}, {"never referred to", orphan, false}, {"held by b", shared, true}, {"fresh", fresh, true}} {
					rc, _, err := blobs.Open(ctx, tc.ref.Hash)
					if err == nil {
						rc.Close()
					}
					if kept := !errors.Is(err, blob.ErrNotFound); kept != tc.kept {
						t.Errorf("%s: kept = %v (%v), want %v", tc.name, kept, err, tc.kept)
					}
				}
				if got := gathered(t, reg, "taskcenter_blob_bytes_reclaimed_total"); got != float64(want.BytesReclaimed) {
					t.Errorf("bytes reclaimed metric = %v, want %d", got, want.BytesReclaimed)
				}
				if got := gathered(t, reg, "taskcenter_blobs_reclaimed_total"); got != 2 {
					t.Errorf("blobs reclaimed metric = %v, want 2", got)
				}
				if got := gathered(t, reg, "taskcenter_blobs_stored"); got != 2 {
					t.Errorf("blobs stored metric = %v, want 2", got)
				}
				if !strings.Contains(logs.String(), "reclaimed=2") {
					t.Errorf("log = %q, want a line with reclaimed=2", logs.String())
				}
				// Nothing left to do: a second run deletes nothing.
				res, err = sw.Run(ctx, now())
				must(t, err)
				if res.Reclaimed != 0 || res.Blobs != 2 {
					t.Fatalf("second Run = %+v", res)
				}
			})
		}
	})
}

// TestSweepService runs the sweep as the engine's maintenance service, with the engine's clock:
// moved past the grace period, the unreferenced blob goes and the referenced one stays.
func TestSweepService(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		blobs, err := blob.NewLocal(t.TempDir())
		must(t, err)
		clock := testutil.NewWallClock()
		eng := engine.New(st, engine.Config{Now: clock.Now}, slog.Default(), nil)
		sw, err := blobsweep.New(blobsweep.Config{Store: st, Blobs: blobs})
		must(t, err)
		must(t, eng.RegisterService(sw.Service(0)))

		a, err := st.CreateAccount(ctx, store.Account{Name: "a", Role: store.RoleUser, CreatedAt: clock.Now(), UpdatedAt: clock.Now()})
		must(t, err)
		kept, err := blobs.Put(ctx, strings.NewReader("kept"), 0)
		must(t, err)
		gone, err := blobs.Put(ctx, strings.NewReader("gone"), 0)
		must(t, err)
		must(t, st.AddBlobRefs(ctx, a.ID, []string{kept.Hash}, clock.Now()))

		must(t, eng.RunService(ctx, blobsweep.ServiceName))
		if ok, _ := blobs.Exists(ctx, gone.Hash); !ok {
			t.Fatal("an unreferenced blob younger than the grace period was deleted")
		}
		clock.Advance(blobsweep.DefaultGrace + time.Minute)
		must(t, eng.RunService(ctx, blobsweep.ServiceName))
		if ok, _ := blobs.Exists(ctx, gone.Hash); ok {
			t.Fatal("an unreferenced blob older than the grace period is still there")
		}
		if ok, _ := blobs.Exists(ctx, kept.Hash); !ok {
			t.Fatal("a referenced blob was deleted")
		}
	})
}

// failingBlobs deletes nothing: every delete fails.
type failingBlobs struct{ blobsweep.Blobs }

func (failingBlobs) DeleteIfUnused(context.Context, string, time.Time, func(context.Context) (bool, error)) (bool, int64, error) {
	return false, 0, errors.New("disk on fire")
}

// TestSweepDeleteFails: a delete that fails is counted and reported, and the run goes through the
// other blobs.
func TestSweepDeleteFails(t *testing.T) {
	ctx := context.Background()
	st := drivers.All()[0].Open(t)
	blobs, err := blob.NewLocal(t.TempDir())
	must(t, err)
	for _, s := range []string{"one", "two"} {
		_, err := blobs.Put(ctx, strings.NewReader(s), 0)
		must(t, err)
	}
	sw, err := blobsweep.New(blobsweep.Config{Store: st, Blobs: failingBlobs{blobs}, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	must(t, err)
	res, err := sw.Run(ctx, time.Now().Add(2*blobsweep.DefaultGrace))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || res.Failed != 2 {
		t.Fatalf("Run = %+v, %v; want both failures reported", res, err)
	}
}

func TestNewRefuses(t *testing.T) {
	blobs, err := blob.NewLocal(t.TempDir())
	must(t, err)
	st := drivers.All()[0].Open(t)
	for _, c := range []blobsweep.Config{{Blobs: blobs}, {Store: st}, {Store: st, Blobs: blobs, Grace: -time.Second}} {
		if _, err := blobsweep.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// gathered reads a counter's or a gauge's value from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// upgradedStore is a store of a database upgraded with data: its sweep horizon is set.
type upgradedStore struct {
	store.Store
	since time.Time
}

func (u upgradedStore) BlobSweepSince(context.Context) (time.Time, bool, error) {
	return u.since, true, nil
}

// TestSweepKeepsWhatPredatesTheUpgrade: on a database upgraded with data, an unreferenced blob
// written before the upgrade (one uploaded before blob_refs existed) is kept; one written after it
// is reclaimed.
func TestSweepKeepsWhatPredatesTheUpgrade(t *testing.T) {
	const grace = time.Hour
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		blobs, now, age := blobDrivers[0].open(t)
		put := func(s string) blob.Ref {
			t.Helper()
			ref, err := blobs.Put(ctx, strings.NewReader(s), 0)
			must(t, err)
			return ref
		}
		before := put("uploaded before the upgrade")
		age(3 * grace)
		after := put("uploaded after the upgrade")
		age(2 * grace)
		st := upgradedStore{Store: open(t), since: now().Add(-4 * grace)}
		sw, err := blobsweep.New(blobsweep.Config{Store: st, Blobs: blobs, Grace: grace})
		must(t, err)
		res, err := sw.Run(ctx, now())
		must(t, err)
		if res.Reclaimed != 1 || res.Old != 1 {
			t.Fatalf("Run = %+v, want the one blob written after the upgrade reclaimed", res)
		}
		if ok, err := blobs.Exists(ctx, before.Hash); err != nil || !ok {
			t.Errorf("the blob from before the upgrade: exists %v, %v", ok, err)
		}
		if ok, err := blobs.Exists(ctx, after.Hash); err != nil || ok {
			t.Errorf("the blob from after the upgrade: exists %v, %v", ok, err)
		}
	})
}
