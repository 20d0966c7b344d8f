// Package blobsweep reclaims the space of blobs no account may read any more. Blobs are content-
// addressed and shared between accounts, and an account reads one only while it holds a row in
// blob_refs (store.BlobRefs); a facade that deletes an account's file drops that account's rows
// (store.BlobRefDrops), and this sweep deletes the bytes once no row is left.
//
// The sweep is a maintenance service of the engine (Sweeper.Service), so only the leader replica
// runs it and replicas never sweep twice at once. A run lists every blob with its modification
// time, keeps those last written more than the grace period ago, asks the store in batches which of
// them no account refers to, and hands each of those to the blob driver's DeleteIfUnused, which
// checks the time and the references once more right before it deletes (blob/reclaim.go).
//
// Why the grace period and the second check make the sweep safe against uploads: every writer
// stores a blob (Put) and then records its reference, so for a moment a live blob has no reference.
// Put gives the blob a fresh modification time even when its content was stored already (another
// account's upload of the same bytes), so a blob in that moment is younger than the grace period
// and is not a candidate. A Put that comes after the sweep listed the blob as old is seen by the
// driver's last check of the time; a reference written after the batch query is seen by the last
// check of the references. The Local driver moves the blob out of Put's way before those checks,
// so nothing is left to chance there; on S3 one round trip remains between the last check and the
// delete (docs/architecture.md, "Reclaiming blobs").
package blobsweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
)

// DefaultGrace is how old an unreferenced blob must be before a sweep deletes it.
const DefaultGrace = 24 * time.Hour

// DefaultEvery is the period between two sweeps.
const DefaultEvery = time.Hour

// ServiceName names the sweep among the engine's maintenance services.
const ServiceName = "blob-sweep"

const defaultBatch = 1000

// Blobs is what the sweep needs of a blob driver; blob.Local and blob.S3 implement it.
type Blobs interface {
	// List calls fn with every content-addressed blob and its modification time.
	List(ctx context.Context, fn func(blob.Info) error) error
	// DeleteIfUnused deletes the blob when it was last written at or before cutoff and unused,
	// asked right before the delete, reports true; it returns whether it did and the bytes freed.
	DeleteIfUnused(ctx context.Context, hash string, cutoff time.Time, unused func(context.Context) (bool, error)) (bool, int64, error)
}

// Store is what the sweep reads of the store.
type Store interface {
	UnreferencedBlobs(ctx context.Context, hashes []string) ([]string, error)
	BlobSweepSince(ctx context.Context) (time.Time, bool, error)
}

// Config configures a Sweeper.
type Config struct {
	Store Store
	Blobs Blobs
	// Grace is how long an unreferenced blob is kept after it was last written; DefaultGrace when
	// zero. It must exceed the time between a blob's Put and the write of its reference (a
	// request's length), which it does by far.
	Grace time.Duration
	// Batch is how many hashes one store query asks about; 1000 when zero.
	Batch int
	Log   *slog.Logger
	// Registry, when set, gets the sweep's metrics.
	Registry prometheus.Registerer
}

// Result counts what one run saw and did.
type Result struct {
	Blobs          int   // blobs listed
	Bytes          int64 // their size
	Old            int   // of them, last written before the grace period (and after the horizon)
	Unreferenced   int   // of those, referred to by no account at the batch query
	Reclaimed      int   // deleted
	BytesReclaimed int64 // freed
	Failed         int   // blobs whose delete failed (the run goes on)
}

// Sweeper deletes blobs that no account refers to.
type Sweeper struct {
	cfg Config
	log *slog.Logger

	reclaimed      prometheus.Counter
	bytesReclaimed prometheus.Counter
	stored         prometheus.Gauge
	storedBytes    prometheus.Gauge
}

// New checks cfg and builds a Sweeper, registering its metrics with cfg.Registry when set.
func New(cfg Config) (*Sweeper, error) {
	if cfg.Store == nil || cfg.Blobs == nil {
		return nil, errors.New("blobsweep: Store and Blobs are required")
	}
	if cfg.Grace < 0 || cfg.Batch < 0 {
		return nil, fmt.Errorf("blobsweep: grace %v and batch %d must not be negative", cfg.Grace, cfg.Batch)
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Batch == 0 {
		cfg.Batch = defaultBatch
	}
	s := &Sweeper{cfg: cfg, log: cfg.Log,
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskcenter_blobs_reclaimed_total",
			Help: "Blobs the sweep deleted because no account referred to them."}),
		bytesReclaimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskcenter_blob_bytes_reclaimed_total",
			Help: "Bytes freed by the sweep of unreferenced blobs."}),
		stored: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskcenter_blobs_stored",
			Help: "Blobs in the blob store at the last sweep."}),
		storedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskcenter_blob_bytes_stored",
			Help: "Bytes in the blob store at the last sweep."}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.Registry != nil {
		if err := registerAll(cfg.Registry, s.reclaimed, s.bytesReclaimed, s.stored, s.storedBytes); err != nil {
			return nil, fmt.Errorf("blobsweep: register metrics: %w", err)
		}
	}
	return s, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Service is the sweep as an engine maintenance service running every period (DefaultEvery when
// zero), for Engine.RegisterService: the leader runs it, with the engine's clock.
func (s *Sweeper) Service(every time.Duration) engine.Service {
	if every <= 0 {
		every = DefaultEvery
	}
	return engine.NewService(ServiceName, every, func(ctx context.Context, now time.Time) error {
		_, err := s.Run(ctx, now)
		return err
	})
}

// Run sweeps once: blobs last written before now minus the grace period that no account refers to
// are deleted. A blob whose delete fails is counted and logged and the run goes on; the error then
// names how many failed and the first cause.
func (s *Sweeper) Run(ctx context.Context, now time.Time) (Result, error) {
	start := time.Now()
	cutoff := now.Add(-s.cfg.Grace)
	since, bounded, err := s.cfg.Store.BlobSweepSince(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("blob sweep: %w", err)
	}
	var (
		res     Result
		batch   []string
		firstEr error
	)
	unused := func(hash string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			free, err := s.cfg.Store.UnreferencedBlobs(ctx, []string{hash})
			return len(free) == 1, err
		}
	}
	flush := func(ctx context.Context) error {
		if len(batch) == 0 {
			return nil
		}
		free, err := s.cfg.Store.UnreferencedBlobs(ctx, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		res.Unreferenced += len(free)
		for _, h := range free {
			deleted, size, err := s.cfg.Blobs.DeleteIfUnused(ctx, h, cutoff, unused(h))
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res.Failed++
				s.log.Warn("blob sweep: could not delete an unreferenced blob", "hash", h, "err", err)
				if firstEr == nil {
					firstEr = err
				}
				continue
			}
			if deleted {
				res.Reclaimed++
				res.BytesReclaimed += size
				s.reclaimed.Inc()
				s.bytesReclaimed.Add(float64(size))
			}
		}
		return nil
	}
	err = s.cfg.Blobs.List(ctx, func(i blob.Info) error {
		res.Blobs++
		res.Bytes += i.Size
		if i.ModTime.After(cutoff) || bounded && i.ModTime.Before(since) {
			return nil // young, or older than a database upgraded with data (store.BlobSweep)
		}
		res.Old++
		batch = append(batch, i.Hash)
		if len(batch) < s.cfg.Batch {
			return nil
		}
		return flush(ctx)
	})
	if err == nil {
		err = flush(ctx)
	}
	if err != nil {
		return res, fmt.Errorf("blob sweep: %w", err)
	}
	s.stored.Set(float64(res.Blobs - res.Reclaimed))
	s.storedBytes.Set(float64(res.Bytes - res.BytesReclaimed))
	level := slog.LevelDebug
	if res.Reclaimed > 0 || res.Failed > 0 {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "blob sweep", "blobs", res.Blobs, "bytes", res.Bytes, "old", res.Old,
		"unreferenced", res.Unreferenced, "reclaimed", res.Reclaimed, "bytes_reclaimed", res.BytesReclaimed,
		"failed", res.Failed, "grace", s.cfg.Grace, "took", time.Since(start).Round(time.Millisecond))
	if res.Failed > 0 {
		return res, fmt.Errorf("blob sweep: %d unreferenced blobs could not be deleted; the first: %w", res.Failed, firstEr)
	}
	return res, nil
}
