package recording

import (
	"context"
	"fmt"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
)

// KeyKind makes the facade the issuer of "recording" keys (apps) for the native API and the admin
// command "keys create ID --kind recording".
func (a *API) KeyKind() string { return "recording" }

// IssueKey makes an app of the account: its app_id and secret (shown once); name labels it.
func (a *API) IssueKey(ctx context.Context, accountID int64, name string) (map[string]string, error) {
	if _, err := a.st.GetAccount(ctx, accountID); err != nil {
		return nil, fmt.Errorf("load account %d: %w", accountID, err)
	}
	appID := auth.RandomHex(16)
	if name == "" {
		name = "recording app"
	}
	secret, _, err := auth.IssueSealedKey(ctx, a.st, a.cfg.Keyring, accountID, store.CredRecording, appID, name, a.now())
	if err != nil {
		return nil, err
	}
	return map[string]string{"app_id": appID, "secret": secret}, nil
}
