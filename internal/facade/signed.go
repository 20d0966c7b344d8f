package facade

import (
	"context"
	"crypto/hmac"
	"strconv"
	"time"
)

// Signed is the skeleton every signed dialect checks a request with, in this order: the timestamp
// inside the window, the key looked up (Open, before the body is read, so that a caller with no live
// key makes the server read nothing), then the signature over the dialect's canonical form compared
// in constant time, and only then the one-use nonce spent (Verify), so that a forger cannot burn a
// client's nonces. Which headers a dialect reads, its canonical form and its signature are its own:
// K is what a key lookup yields, M what the canonical form is made from, A what spending the nonce
// yields (the caller's account, when the dialect reads it with the nonce).
type Signed[K, M, A any] struct {
	// Window is the accepted clock skew either way; Unit the timestamp's unit: time.Millisecond, or
	// seconds otherwise.
	Window, Unit time.Duration
	Now          func() time.Time
	// Lookup finds the live key of keyID; a key that is unknown, revoked or expired is the dialect's
	// error.
	Lookup func(ctx context.Context, keyID string, now time.Time) (K, error)
	// Canonical returns the i-th string the client may have signed (most dialects have one, i = 0),
	// and false past the last.
	Canonical func(k K, m M, i int) (msg string, ok bool, err error)
	// Sign signs msg with the key.
	Sign func(k K, msg string) string
	// Spend records the request's nonce and reports whether it was fresh (not seen before).
	Spend func(ctx context.Context, k K, m M, o Opened[K]) (A, bool, error)
	// The dialect's answers: a timestamp that is not a number, one outside the window, a signature
	// that does not match, a nonce seen before.
	BadTime, Expired, BadSignature, Replay error
}

// Opened is a request whose timestamp and key passed.
type Opened[K any] struct {
	Key K
	At  time.Time // the request's timestamp
	Now time.Time // the server's clock when it was checked
}

// Open checks the timestamp against the window and looks the key up.
func (s *Signed[K, M, A]) Open(ctx context.Context, keyID, timestamp string) (Opened[K], error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return Opened[K]{}, s.BadTime
	}
	at := time.Unix(ts, 0)
	if s.Unit == time.Millisecond {
		at = time.UnixMilli(ts)
	}
	now := s.Now()
	if d := now.Sub(at); d > s.Window || d < -s.Window {
		return Opened[K]{}, s.Expired
	}
	k, err := s.Lookup(ctx, keyID, now)
	if err != nil {
		return Opened[K]{}, err
	}
	return Opened[K]{Key: k, At: at, Now: now}, nil
}

// Verify checks that got signs one of the canonical strings of m, comparing every candidate so that
// the time taken does not tell which one matched, then spends the nonce.
func (s *Signed[K, M, A]) Verify(ctx context.Context, o Opened[K], m M, got string) (A, error) {
	var none A
	match := false
	for i := 0; ; i++ {
		msg, ok, err := s.Canonical(o.Key, m, i)
		if err != nil {
			return none, err
		}
		if !ok {
			break
		}
		if hmac.Equal([]byte(s.Sign(o.Key, msg)), []byte(got)) {
			match = true
		}
	}
	if !match {
		return none, s.BadSignature
	}
	a, fresh, err := s.Spend(ctx, o.Key, m, o)
	if err != nil {
		return none, err
	}
	if !fresh {
		return none, s.Replay
	}
	return a, nil
}
