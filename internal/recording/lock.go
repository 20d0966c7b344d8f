package recording

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// A recording's document and a group's registry are read, changed and written back. Two writers at
// once, on this replica or another sharing the database, would lose one change: each such change
// holds the key's lock, kept in this process (keyedLocks) and, across replicas, as a store counter
// that only one holder at a time sees at 1 (expiring, so that a crashed holder frees it).
const (
	lockScope  = "recording.lock"
	lockTTL    = 10 * time.Second
	lockWait   = 5 * time.Second
	lockPauseA = 5 * time.Millisecond
	lockPauseB = 100 * time.Millisecond
)

// lock takes key's lock; unlock gives it back.
func (a *API) lock(ctx context.Context, key string) (unlock func(), err error) {
	local := a.locks.lock(key)
	pause := lockPauseA
	deadline := time.Now().Add(lockWait)
	for {
		now := a.now()
		n, _, err := a.st.AddCounter(ctx, lockScope, key, 1, now.Add(lockTTL), now)
		if err != nil {
			local()
			return nil, fmt.Errorf("lock %s: %w", key, err)
		}
		if n == 1 {
			return func() {
				_ = a.st.DeleteCounter(context.WithoutCancel(ctx), lockScope, key)
				local()
			}, nil
		}
		// Another replica holds it; the count it left behind is cleared when that one lets go.
		if time.Now().After(deadline) {
			local()
			return nil, fmt.Errorf("lock %s: held elsewhere for over %v", key, lockWait)
		}
		select {
		case <-ctx.Done():
			local()
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, lockPauseB)
	}
}

// keyedLocks serialises the holders of one key within this process, so that only one of them at a
// time asks the store.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
