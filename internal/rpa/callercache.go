package rpa

import (
	"time"
)

// cacheTTL (of the facade.Cache behind callers and queues) bounds how long a replica trusts what it cached about a token or a queue. Writes on this
// replica drop the affected entries at once; a revoked token, a deleted or disabled user, a changed
// role or a deleted queue on another replica takes effect within this time.
const cacheTTL = 5 * time.Second

// cacheSize bounds the entries of each cache: tokens in use and queues worked at once on a replica.
const cacheSize = 10_000

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
func (a *API) dropCallers(account int64) { a.callers.Drop(account) }

// dropCallersFor forgets the account's cached callers when a record of a kind they are built from
// was written.
func (a *API) dropCallersFor(account int64, kind string) {
	switch kind {
	case recUser, recRole, recOrg:
		a.dropCallers(account)
	}
}
