package facade

import (
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Cache is a bounded LRU cache whose entries serve for a TTL after they were read and can be dropped
// by account. It spares the database the reads every signed request would make (a key, a token's
// user and role, a queue); a write on this replica drops the account's entries at once, a write on
// another replica shows within the TTL.
//
// Dropping is done with sequence numbers rather than by walking the entries, so that a read that
// began before a write and finishes after it cannot put back what the write made stale: an entry is
// good only when its read began after the last drop of its account. Expiry is checked against the
// caller's clock when an entry is read (tests with a fake clock see it); a clock that went back makes
// an entry stale.
type Cache[K comparable, V any] struct {
	entries *lru.Cache[K, cacheEntry[V]]
	ttl     time.Duration
	seq     atomic.Uint64
	mu      sync.RWMutex
	dropped map[int64]uint64 // account → seq of its last drop
}

type cacheEntry[V any] struct {
	v       V
	account int64
	seq     uint64    // the cache's seq when the read behind the entry began
	at      time.Time // when it was read, on the caller's clock
}

// NewCache makes a cache of at most size entries that serve for ttl. It panics for a size below 1.
func NewCache[K comparable, V any](size int, ttl time.Duration) *Cache[K, V] {
	l, err := lru.New[K, cacheEntry[V]](size)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &Cache[K, V]{entries: l, ttl: ttl, dropped: map[int64]uint64{}}
}

// Begin marks the start of a read whose result may be cached; pass its value to Add.
func (c *Cache[K, V]) Begin() uint64 { return c.seq.Load() }

func (c *Cache[K, V]) droppedAt(account int64) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.dropped[account]
}

// Get returns a live entry; an expired or dropped one is removed and missed.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	e, ok := c.entries.Get(k)
	if ok {
		if age := now.Sub(e.at); age >= 0 && age < c.ttl && e.seq >= c.droppedAt(e.account) {
			return e.v, true
		}
		c.entries.Remove(k)
	}
	var zero V
	return zero, false
}

// Add caches v, read for account from seq (Begin) on, unless the account was dropped since.
func (c *Cache[K, V]) Add(k K, account int64, seq uint64, v V, now time.Time) {
	if seq < c.droppedAt(account) {
		return
	}
	c.entries.Add(k, cacheEntry[V]{v: v, account: account, seq: seq, at: now})
}

// Drop invalidates every entry of the account; call it after the write is stored.
func (c *Cache[K, V]) Drop(account int64) {
	s := c.seq.Add(1)
	c.mu.Lock()
	if c.dropped[account] < s {
		c.dropped[account] = s
	}
	c.mu.Unlock()
}
