package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"taskcenter/internal/agentapi"
)

const (
	// maxLogChunk keeps a progress request under the protocol's 256 KiB log limit.
	maxLogChunk = 255 << 10
	// maxLogBuffer bounds the log kept per unit while the server is unreachable; the oldest text is
	// dropped first, since the end of a log says why a unit failed.
	maxLogBuffer = 4 << 20
	// sendSoon is the buffered log size that triggers a send before the next tick.
	sendSoon = 64 << 10
	// transferAttempts bounds retries of an upload or download within one unit.
	transferAttempts = 5
)

// unitEnv is the Env of one running unit. Progress and log are buffered and sent by pump, so that
// an executor never waits on the network to log a line.
type unitEnv struct {
	a      *agent
	ref    agentapi.UnitRef
	dir    string
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	progress float64
	dirty    bool // progress changed or log buffered since the last send
	buf      []byte
	trimmed  int // bytes removed from the front of buf since the start
	dropped  int // bytes dropped unsent and not yet announced in the log

	// ctx carries the reports; not the unit's context, since the last log lines of a cancelled or
	// failed unit are the most useful ones.
	ctx   context.Context
	abort context.CancelFunc
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newUnitEnv(a *agent, u agentapi.Unit, dir string, cancel context.CancelCauseFunc) *unitEnv {
	e := &unitEnv{
		a: a, ref: agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}, dir: dir, cancel: cancel,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	e.ctx, e.abort = context.WithCancel(a.unitsBase)
	go e.pump()
	return e
}

func (e *unitEnv) Dir() string { return e.dir }

func (e *unitEnv) TrackGroup(pid int) func() { return e.a.procs.track(pid) }

func (e *unitEnv) Progress(percent float64, log string) {
	e.mu.Lock()
	if percent >= 0 {
		e.progress = min(percent, 100)
		e.dirty = true
	}
	if log != "" {
		e.buf = append(e.buf, log...)
		if over := len(e.buf) - maxLogBuffer; over > 0 {
			e.buf = e.buf[over:]
			e.trimmed += over
			e.dropped += over
		}
		e.dirty = true
	}
	soon := len(e.buf) >= sendSoon
	e.mu.Unlock()
	if soon {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

// pump sends progress every ProgressInterval (or sooner when much log is buffered) until close.
func (e *unitEnv) pump() {
	defer close(e.done)
	t := time.NewTicker(e.a.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-e.kick:
		}
		e.send(e.ctx)
	}
}

// send reports everything buffered; it reports false when the server could not be reached (the
// text stays buffered for the next attempt).
func (e *unitEnv) send(ctx context.Context) bool {
	for {
		e.mu.Lock()
		if !e.dirty {
			e.mu.Unlock()
			return true
		}
		var head string
		dropped := e.dropped
		if dropped > 0 {
			head = fmt.Sprintf("[agent: %d bytes of log dropped while the server was unreachable]\n", dropped)
		}
		n := min(len(e.buf), maxLogChunk-len(head))
		for n < len(e.buf) && n > 0 && !utf8.RuneStart(e.buf[n]) {
			n-- // do not split a UTF-8 sequence across two chunks
		}
		from := e.trimmed
		req := agentapi.ProgressRequest{UnitRef: e.ref, Progress: e.progress, Log: head + string(e.buf[:n])}
		e.mu.Unlock()

		start := time.Now()
		err := e.a.client.Progress(ctx, req)
		switch {
		case err == nil:
			e.consume(from+n, dropped, req.Progress)
		case IsStale(err):
			e.a.log.Info("progress refused: the unit is no longer ours", "unit_id", e.ref.UnitID)
			e.cancel(errStale)
			e.mu.Lock()
			e.buf, e.dirty = nil, false
			e.mu.Unlock()
			return true
		case IsUnauthorized(err):
			e.a.reauth(ctx, start)
			return false
		case IsPermanent(err):
			e.a.log.Warn("progress refused, dropping the chunk", "unit_id", e.ref.UnitID, "err", err)
			e.consume(from+n, dropped, req.Progress)
		default:
			if ctx.Err() == nil {
				e.a.log.Debug("progress not sent, will retry", "unit_id", e.ref.UnitID, "err", err)
			}
			return false
		}
	}
}

// consume drops the log text up to the absolute offset end once it was sent. Offsets are absolute
// (trimmed counts the bytes ever removed from the front) because Progress may trim the buffer
// while a chunk is in flight.
func (e *unitEnv) consume(end, announced int, progress float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cut := min(end-e.trimmed, len(e.buf)); cut > 0 {
		e.buf = e.buf[cut:]
		e.trimmed += cut
	}
	e.dropped -= announced
	e.dirty = len(e.buf) > 0 || e.dropped > 0 || e.progress != progress
}

// close stops the pump and sends what is left, unless the unit is no longer ours (cause is why the
// unit's context ended). The final send has a deadline of its own: the unit's context may be done.
func (e *unitEnv) close(cause error) {
	dropped := errors.Is(cause, errStale) || errors.Is(cause, errCancelled)
	if dropped {
		e.abort() // nothing more to say about this unit
	}
	// Otherwise a send in flight is let finish: aborted after the server took it, its chunk would be
	// sent twice.
	close(e.stop)
	<-e.done
	e.abort()
	if dropped {
		return
	}
	ctx, cancel := context.WithTimeout(e.a.unitsBase, 10*time.Second)
	defer cancel()
	e.send(ctx)
}

func (e *unitEnv) Upload(ctx context.Context, name, path string) (agentapi.OutputResponse, error) {
	bo := backoff{min: e.a.cfg.BackoffMin, max: e.a.cfg.BackoffMax}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		out, err := e.upload(ctx, name, path)
		switch {
		case err == nil:
			return out, nil
		case IsStale(err):
			e.cancel(errStale)
			return out, err
		case IsUnauthorized(err) && attempt < transferAttempts:
			e.a.reauth(ctx, start)
			continue
		case IsPermanent(err) || attempt >= transferAttempts || ctx.Err() != nil:
			return out, err
		}
		d := bo.next()
		e.a.log.Warn("upload failed, retrying", "unit_id", e.ref.UnitID, "name", name, "err", err, "in", d)
		if !sleep(ctx, d) {
			return out, fmt.Errorf("upload %s: %w (then: %w)", name, err, context.Cause(ctx))
		}
	}
}

func (e *unitEnv) upload(ctx context.Context, name, path string) (agentapi.OutputResponse, error) {
	f, err := os.Open(path)
	if err != nil {
		return agentapi.OutputResponse{}, fmt.Errorf("upload %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return agentapi.OutputResponse{}, fmt.Errorf("upload %s: %w", name, err)
	}
	// A plain io.Reader (not *os.File) keeps the transport from trying sendfile tricks on a body it
	// may have to rewind; the length is set explicitly so the server can refuse an oversize body.
	return e.a.client.Upload(ctx, e.ref, name, struct{ io.Reader }{f}, st.Size())
}

// UnitSpec implements SpecReader: a 409 means the unit was leased again, and stops it; a 401 is
// answered by registering again, once.
func (e *unitEnv) UnitSpec(ctx context.Context) (agentapi.UnitSpecResponse, error) {
	start := time.Now()
	resp, err := e.a.client.UnitSpec(ctx, e.ref)
	switch {
	case IsStale(err):
		e.cancel(errStale)
	case IsUnauthorized(err) && e.a.reauth(ctx, start):
		resp, err = e.a.client.UnitSpec(ctx, e.ref)
	}
	return resp, err
}

func (e *unitEnv) Input(ctx context.Context, hash string) (string, error) {
	return e.a.cache.get(ctx, hash)
}

// blobCache keeps downloaded inputs in a directory, one file per hash, shared by all units.
type blobCache struct {
	dir   string
	agent *agent

	mu    sync.Mutex
	locks map[string]chan struct{} // one download per hash at a time
}

// validHash keeps a hash usable as a file name and a URL path segment.
var validHash = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_:.-]{0,199}$`)

func (c *blobCache) lock(ctx context.Context, hash string) (unlock func(), err error) {
	c.mu.Lock()
	ch := c.locks[hash]
	if ch == nil {
		ch = make(chan struct{}, 1)
		c.locks[hash] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// get returns the cached file of hash, downloading it first if needed.
func (c *blobCache) get(ctx context.Context, hash string) (string, error) {
	if !validHash.MatchString(hash) {
		return "", Permanent(fmt.Errorf("input hash %q is malformed", hash))
	}
	path := filepath.Join(c.dir, strings.ReplaceAll(hash, ":", "_"))
	unlock, err := c.lock(ctx, hash)
	if err != nil {
		return "", fmt.Errorf("input %s: %w", hash, err)
	}
	defer unlock()
	fetch := func() error { return c.download(ctx, hash, path) }
	if _, err := os.Stat(path); err == nil {
		// The cache is shared by every unit, whichever account it belongs to: ask the server first,
		// so that no unit reads through the cache what the server would not hand it.
		fetch = func() error { return c.agent.client.BlobAllowed(ctx, hash) }
	}
	bo := backoff{min: c.agent.cfg.BackoffMin, max: c.agent.cfg.BackoffMax}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := fetch()
		switch {
		case err == nil:
			now := time.Now()
			_ = os.Chtimes(path, now, now) // recently used inputs survive pruning
			return path, nil
		case IsUnauthorized(err) && attempt < transferAttempts:
			c.agent.reauth(ctx, start)
			continue
		case IsPermanent(err) || attempt >= transferAttempts || ctx.Err() != nil:
			return "", err
		}
		d := bo.next()
		c.agent.log.Warn("input download failed, retrying", "hash", hash, "err", err, "in", d)
		if !sleep(ctx, d) {
			return "", fmt.Errorf("input %s: %w", hash, context.Cause(ctx))
		}
	}
}

// download fetches hash into path atomically. A 64-hex-digit hash (optionally "sha256:"-prefixed)
// is taken as SHA-256 and verified, so a truncated or corrupted transfer never enters the cache.
func (c *blobCache) download(ctx context.Context, hash, path string) (err error) {
	f, err := os.CreateTemp(c.dir, ".download-*")
	if err != nil {
		return fmt.Errorf("input %s: %w", hash, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	if _, err = c.agent.client.Blob(ctx, hash, io.MultiWriter(f, h)); err != nil {
		return err
	}
	if want, ok := sha256Hex(hash); ok {
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("input %s: downloaded content has sha256 %s", hash, got)
		}
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("input %s: %w", hash, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("input %s: %w", hash, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("input %s: %w", hash, err)
	}
	return nil
}

func sha256Hex(hash string) (string, bool) {
	h := strings.ToLower(strings.TrimPrefix(hash, "sha256:"))
	if len(h) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h, true
}

// prune removes cached inputs unused for longer than age, and downloads a crash interrupted.
func (c *blobCache) prune(age time.Duration) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), ".download-") || time.Since(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(c.dir, e.Name()))
		}
	}
}
