package rpa

import (
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// cacheTTL bounds how long a replica trusts what it cached about a token or a queue. Writes on this
// replica drop the affected entries at once; a revoked token, a deleted or disabled user, a changed
// role or a deleted queue on another replica takes effect within this time.
const cacheTTL = 5 * time.Second

// cacheSize bounds the entries of each cache: tokens in use and queues worked at once on a replica.
const cacheSize = 10_000

// acctCache is a bounded cache whose entries expire after cacheTTL and can be dropped by account.
// Dropping is done with sequence numbers rather than by walking the entries, so that a read that
// started before a write and finishes after it cannot put back what the write made stale: an entry
// is good only when its read began after the last drop of its account.
type acctCache[K comparable, V any] struct {
	entries *lru.Cache[K, acctEntry[V]]
	seq     atomic.Uint64
	mu      sync.RWMutex
	dropped map[int64]uint64 // account → seq of its last drop
}

type acctEntry[V any] struct {
	v       V
	account int64
	seq     uint64    // the cache's seq when the read behind the entry began
	until   time.Time // cache expiry, on the API's clock
}

func newAcctCache[K comparable, V any](size int) *acctCache[K, V] {
	l, err := lru.New[K, acctEntry[V]](size)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &acctCache[K, V]{entries: l, dropped: map[int64]uint64{}}
}

// begin marks the start of a read whose result may be cached; pass its value to add.
func (c *acctCache[K, V]) begin() uint64 { return c.seq.Load() }

func (c *acctCache[K, V]) droppedAt(account int64) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.dropped[account]
}

// get returns a live entry; an expired or dropped one is removed and missed.
func (c *acctCache[K, V]) get(k K, now time.Time) (V, bool) {
	e, ok := c.entries.Get(k)
	if ok && now.Before(e.until) && e.seq >= c.droppedAt(e.account) {
		return e.v, true
	}
	if ok {
		c.entries.Remove(k)
	}
	var zero V
	return zero, false
}

// add caches v, read for account from seq on, unless the account was dropped since.
func (c *acctCache[K, V]) add(k K, account int64, seq uint64, v V, now time.Time) {
	if seq < c.droppedAt(account) {
		return
	}
	c.entries.Add(k, acctEntry[V]{v: v, account: account, seq: seq, until: now.Add(cacheTTL)})
}

// drop invalidates every entry of the account; call it after the write is stored.
func (c *acctCache[K, V]) drop(account int64) {
	s := c.seq.Add(1)
	c.mu.Lock()
	if c.dropped[account] < s {
		c.dropped[account] = s
	}
	c.mu.Unlock()
}

// cachedCaller is what a token's credential, user and role resolved to. The token's own expiry is
// kept so that it is checked on every request, cached or not.
type cachedCaller struct {
	accountID  int64
	secretHash []byte
	expiresAt  *time.Time
	user       rec[userDoc]
	role       roleDoc
	job        *jobScope // a job token: its unit is still checked on every request
}

// queueKey names a queue as a request does: by id, or by name when id is 0.
type queueKey struct {
	account int64
	id      int64
	name    string
}

// dropCallers forgets the cached callers of an account: a write changed a user, a role, a
// department or a token of it.
func (a *API) dropCallers(account int64) { a.callers.drop(account) }

// dropCallersFor forgets the account's cached callers when a record of a kind they are built from
// was written.
func (a *API) dropCallersFor(account int64, kind string) {
	switch kind {
	case recUser, recRole, recOrg:
		a.dropCallers(account)
	}
}
