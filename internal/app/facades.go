package app

import (
	"log/slog"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
)

// FacadeDeps is what every dialect facade is built from.
type FacadeDeps struct {
	Engine    *engine.Engine
	Store     store.Store
	Blobs     blob.Store
	Keyring   *auth.Keyring
	Log       *slog.Logger
	PublicURL string
}

// Facades builds the dialects this server speaks.
func Facades(d FacadeDeps) ([]server.Facade, error) {
	return nil, nil
}
