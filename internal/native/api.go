package native

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
)

// KeyIssuer is a facade that makes its dialect's credentials for an account: the native API's
// POST /api/v1/accounts/{id}/keys, behind the admin command's "keys create".
type KeyIssuer interface {
	// KeyKind names the dialect, as the request's kind ("render", "rpa").
	KeyKind() string
	// IssueKey makes a credential for the account and returns its fields as the dialect names them,
	// secrets included: they are shown this once. name is a hint the dialect may use (a user name).
	IssueKey(ctx context.Context, accountID int64, name string) (map[string]string, error)
}

// Setting is a facade's document that an admin reads and replaces whole: the native API's
// GET and PUT /api/v1/settings/{name}, behind the admin command's "settings get|set".
type Setting interface {
	// SettingName names it in the path, e.g. "render-catalog".
	SettingName() string
	GetSetting(ctx context.Context) (json.RawMessage, error)
	// PutSetting validates and stores a new document; a document it refuses is an error wrapping
	// engine.ErrInvalid.
	PutSetting(ctx context.Context, doc json.RawMessage) error
}

// AccountSetting is a facade's document of one account that an admin reads and changes field by
// field: the native API's GET and PATCH /api/v1/accounts/{id}/settings/{name}, behind the admin
// command's "accounts settings" (render prices among them).
type AccountSetting interface {
	// AccountSettingName names it in the path, e.g. "render".
	AccountSettingName() string
	GetAccountSetting(ctx context.Context, accountID int64) (json.RawMessage, error)
	// PatchAccountSetting changes the fields doc names and answers the whole document; a change it
	// refuses is an error wrapping engine.ErrInvalid, an unknown account store.ErrNotFound.
	PatchAccountSetting(ctx context.Context, accountID int64, doc json.RawMessage) (json.RawMessage, error)
}

// Sessions authenticates a request that carries no bearer token: the console's session cookie. It
// answers the native token the session stands for, or an error wrapping auth.ErrUnauthorized (no
// session, or a change without its CSRF proof).
type Sessions interface {
	SessionToken(r *http.Request) (string, error)
}

// Config is what the native API needs.
type Config struct {
	Engine *engine.Engine
	// Store is read through; jobs, units and schedules are written through Engine.
	Store Store
	Blobs blob.Store
	Log   *slog.Logger
	// MaxUploadBytes bounds a blob upload.
	MaxUploadBytes int64
}

// API serves the native API.
type API struct {
	cfg         Config
	log         *slog.Logger
	issuers     map[string]KeyIssuer      // by KeyKind
	settings    map[string]Setting        // by SettingName
	acctSets    map[string]AccountSetting // by AccountSettingName
	sessions    Sessions                  // nil: bearer tokens only
	collections map[string]Collection     // by CollectionName
}

// New builds the native API over the facades that issue keys, keep settings, offer collections or
// authenticate console sessions (any others are ignored).
func New(cfg Config, facades ...any) *API {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &API{cfg: cfg, log: cfg.Log, issuers: map[string]KeyIssuer{}, settings: map[string]Setting{}, acctSets: map[string]AccountSetting{},
		collections: map[string]Collection{}}
	for _, f := range facades {
		if ki, ok := f.(KeyIssuer); ok {
			a.issuers[ki.KeyKind()] = ki
		}
		if st, ok := f.(Setting); ok {
			a.settings[st.SettingName()] = st
		}
		if as, ok := f.(AccountSetting); ok {
			a.acctSets[as.AccountSettingName()] = as
		}
		if col, ok := f.(Collection); ok {
			a.collections[col.CollectionName()] = col
		}
		if cs, ok := f.(Collections); ok {
			for _, col := range cs.Collections() {
				a.collections[col.CollectionName()] = col
			}
		}
		if ss, ok := f.(Sessions); ok {
			a.sessions = ss
		}
	}
	return a
}

// fail answers err in the plain dialect, logging with the request's logger.
func (s *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	facade.Fail(w, r, facade.Logger(r.Context(), s.log), err)
}
