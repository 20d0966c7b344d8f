package server

import (
	"sync"
	"time"

	"taskcenter/internal/store"
)

// workerCacheTTL is how long a verified worker token and a worker record are trusted without a
// database read: long enough to take the agent hot path (lease, complete) off the database, short
// enough that a revoked token or a deleted worker stops working soon.
const workerCacheTTL = time.Minute

// workerCache keeps verified worker tokens and worker records for workerCacheTTL. Expired entries are
// dropped by a prune that runs at most once per TTL, so the cache holds only what was used in the last
// two TTLs however many agents come and go.
type workerCache struct {
	mu        sync.Mutex
	tokens    map[string]tokenEntry // token -> worker id
	byID      map[int64]cachedWorker
	nextPrune time.Time
}

type cachedWorker struct {
	w       store.Worker
	expires time.Time
}

type tokenEntry struct {
	workerID, incarnation int64
	expires               time.Time
}

func newWorkerCache() *workerCache {
	return &workerCache{tokens: map[string]tokenEntry{}, byID: map[int64]cachedWorker{}}
}

// token returns the worker id and incarnation a token was verified for, while that is fresh.
func (c *workerCache) token(token string, now time.Time) (workerID, incarnation int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[token]
	if !ok || !now.Before(e.expires) {
		return 0, 0, false
	}
	return e.workerID, e.incarnation, true
}

func (c *workerCache) putToken(token string, workerID, incarnation int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(now)
	c.tokens[token] = tokenEntry{workerID: workerID, incarnation: incarnation, expires: now.Add(workerCacheTTL)}
}

// worker returns the cached record of worker id, while it is fresh.
func (c *workerCache) worker(id int64, now time.Time) (store.Worker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok || !now.Before(e.expires) {
		return store.Worker{}, false
	}
	return e.w, true
}

func (c *workerCache) put(w store.Worker, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(now)
	if e, ok := c.byID[w.ID]; ok && e.w.Incarnation > w.Incarnation && now.Before(e.expires) {
		return // a read that started before a registration must not bring back the previous incarnation
	}
	c.byID[w.ID] = cachedWorker{w: w, expires: now.Add(workerCacheTTL)}
}

func (c *workerCache) pruneLocked(now time.Time) {
	if now.Before(c.nextPrune) {
		return
	}
	c.nextPrune = now.Add(workerCacheTTL)
	for k, e := range c.tokens {
		if !now.Before(e.expires) {
			delete(c.tokens, k)
		}
	}
	for k, e := range c.byID {
		if !now.Before(e.expires) {
			delete(c.byID, k)
		}
	}
}

// size reports how many tokens and workers are cached.
func (c *workerCache) size() (tokens, workers int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tokens), len(c.byID)
}
