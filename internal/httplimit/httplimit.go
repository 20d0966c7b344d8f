// Package httplimit bounds how long a request's body may take to arrive, per request, without the
// server-wide http.Server.ReadTimeout: that deadline stays on the connection while the handler runs,
// and when it passes the server cancels the request's context, which would cut long-polls and slow
// handlers that read their small body long ago.
package httplimit

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Body gives r's body until timeout from now to arrive whole. Once the body has been read to its end
// the deadline is lifted, so the handler may then run as long as it needs; a body the handler leaves
// unread stays under the deadline while the server drains it. A request without a body is left alone
// (its headers were bounded by ReadHeaderTimeout).
func Body(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if timeout <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return // not a server connection (a test recorder): nothing to bound
	}
	r.Body = &liftAtEnd{ReadCloser: r.Body, rc: rc}
}

// liftAtEnd clears the read deadline once its body has been read to its end. On any other error
// the deadline stays: before answering, the server drains a small unread body, and that must not
// wait for a client that stopped sending.
type liftAtEnd struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *liftAtEnd) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}

// Upload replaces the whole-body deadline of a large upload with one that moves: the body may take as
// long as it needs while data keeps coming, at most idle apart. Call it after authenticating the
// caller and before reading the body.
func Upload(w http.ResponseWriter, r *http.Request, idle time.Duration) {
	if idle <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(idle)); err != nil {
		return
	}
	r.Body = &progress{ReadCloser: r.Body, rc: rc, idle: idle}
}

// UploadIdle is how long an upload may go without a byte arriving.
const UploadIdle = time.Minute

type progress struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	last time.Time
}

func (b *progress) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// The deadline stays, as in liftAtEnd.
	case n > 0:
		// Moving the deadline is a system call: once a second is often enough.
		if now := time.Now(); now.Sub(b.last) >= time.Second {
			b.last = now
			_ = b.rc.SetReadDeadline(now.Add(b.idle))
		}
	}
	return n, err
}
