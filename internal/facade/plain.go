package facade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/httplimit"
	"taskcenter/internal/store"
)

// The plain dialect of the native API and the agent protocol: the HTTP status says what happened and
// a failure's body is {"error": "..."}.

// JSON answers v with the status.
func JSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err) // the client went away
	}
}

// JSONError answers {"error": msg} with the status.
func JSONError(w http.ResponseWriter, code int, msg string) {
	JSON(w, code, map[string]string{"error": msg})
}

// Fail answers err in the plain dialect: the engine's and the store's errors by their meaning, and
// anything else 500, logged with its cause.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, store.ErrNotFound):
		JSONError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrStale):
		JSONError(w, http.StatusConflict, "stale lease: the unit is no longer held with this epoch")
	case errors.Is(err, store.ErrConflict):
		JSONError(w, http.StatusConflict, err.Error())
	case errors.Is(err, engine.ErrInvalid):
		JSONError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &mbe):
		JSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
	case errors.Is(err, blob.ErrTooLarge):
		JSONError(w, http.StatusRequestEntityTooLarge, "upload larger than allowed")
	case errors.Is(err, auth.ErrUnauthorized):
		JSONError(w, http.StatusUnauthorized, "invalid or missing token")
	default:
		log.Error("request failed", "path", r.URL.Path, "err", err)
		JSONError(w, http.StatusInternalServerError, "internal error")
	}
}

// Bearer is the token of an "Authorization: Bearer" header, or "".
func Bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ServeBlob answers a blob's content (with ranges and its hash as ETag), or 404 for a hash that is
// malformed or not stored. Who may read it is the caller's check.
func ServeBlob(w http.ResponseWriter, r *http.Request, blobs blob.Store, log *slog.Logger, hash string) {
	if !blob.ValidHash(hash) {
		JSONError(w, http.StatusNotFound, "not found")
		return
	}
	rc, _, err := blobs.Open(r.Context(), hash)
	if errors.Is(err, blob.ErrNotFound) {
		JSONError(w, http.StatusNotFound, "not found")
		return
	}
	if err != nil {
		Fail(w, r, Logger(r.Context(), log), err)
		return
	}
	defer rc.Close()
	w.Header().Set("ETag", `"`+hash+`"`)
	http.ServeContent(w, r, "", time.Time{}, rc)
}

type logKey struct{}

// WithLogger gives a request's context its logger (with the request's id).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Logger returns the request-scoped logger, or fallback.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// UploadBody readies a large upload's body: a declared length over max is refused before reading
// (answered here, false returned), and the body may take as long as it needs while data keeps
// arriving.
func UploadBody(w http.ResponseWriter, r *http.Request, max int64) bool {
	if r.ContentLength > max {
		JSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than %d bytes", max))
		return false
	}
	httplimit.Upload(w, r, httplimit.UploadIdle)
	return true
}
