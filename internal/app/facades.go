package app

import (
	"fmt"
	"log/slog"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/console"
	"taskcenter/internal/engine"
	"taskcenter/internal/projects"
	"taskcenter/internal/recording"
	"taskcenter/internal/render"
	"taskcenter/internal/rpa"
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
	// ImageURLTTL is how long a render image URL stays valid (render.Config.ImageURLTTL).
	ImageURLTTL time.Duration
	// AITasksAllowPrivateEgress is aitasks.Config.AllowPrivateEgress.
	AITasksAllowPrivateEgress bool
}

// Facades builds the dialects this server speaks.
func Facades(d FacadeDeps) ([]server.Facade, error) {
	r, err := render.New(render.Config{Engine: d.Engine, Store: d.Store, Blobs: d.Blobs, Keyring: d.Keyring, Log: d.Log, PublicURL: d.PublicURL, ImageURLTTL: d.ImageURLTTL})
	if err != nil {
		return nil, fmt.Errorf("render facade: %w", err)
	}
	o, err := rpa.New(rpa.Config{Engine: d.Engine, Store: d.Store, Blobs: d.Blobs, Keyring: d.Keyring, Log: d.Log})
	if err != nil {
		return nil, fmt.Errorf("rpa facade: %w", err)
	}
	rec, err := recording.New(recording.Config{Engine: d.Engine, Store: d.Store, Blobs: d.Blobs, Keyring: d.Keyring, Log: d.Log, PublicURL: d.PublicURL})
	if err != nil {
		return nil, fmt.Errorf("recording facade: %w", err)
	}
	target, ok := d.Blobs.(blob.Keyed)
	if !ok {
		return nil, fmt.Errorf("projects facade: the blob store %T keeps no keyed objects to publish to", d.Blobs)
	}
	pr, err := projects.New(projects.Config{Engine: d.Engine, Store: d.Store, Target: target, Log: d.Log, PublicURL: d.PublicURL})
	if err != nil {
		return nil, fmt.Errorf("projects facade: %w", err)
	}
	ai, err := aitasks.New(aitasks.Config{Engine: d.Engine, Store: d.Store, Keyring: d.Keyring, Log: d.Log,
		Blobs: d.Blobs, PublicURL: d.PublicURL, MirrorResults: true, AllowPrivateEgress: d.AITasksAllowPrivateEgress})
	if err != nil {
		return nil, fmt.Errorf("aitasks facade: %w", err)
	}
	con, err := console.New(console.Config{Engine: d.Engine, Store: d.Store, Log: d.Log, Dialects: []string{r.KeyKind(), o.KeyKind(), rec.KeyKind(), pr.KeyKind(), aitasks.ConsoleDialect}})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return []server.Facade{r, o, rec, pr, ai, con}, nil
}
