package facade

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
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
