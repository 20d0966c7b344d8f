package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"taskcenter/internal/engine"
)

// AccountSettingName names the render settings of an account in the native API
// (/api/v1/accounts/{id}/settings/render).
func (a *API) AccountSettingName() string { return "render" }

// GetAccountSetting answers the account's render settings (defaults filling what was never set).
func (a *API) GetAccountSetting(ctx context.Context, accountID int64) (json.RawMessage, error) {
	acct, err := a.st.GetAccount(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("load account %d: %w", accountID, err)
	}
	s, err := settingsOf(acct)
	if err != nil {
		return nil, err
	}
	return mustJSON(s), nil
}

// maxNodeHourPrice bounds cpuPrice and gpuPrice, so that a slip of the operator's cannot make one
// frame cost more than an account can hold.
const maxNodeHourPrice = 1_000_000

// PatchAccountSetting changes the render settings doc names (by their wire names: cpuPrice, gpuPrice,
// platform, ...) and keeps the others. It is the operator's way to set prices, which a client's
// updateUserSetting may not change.
func (a *API) PatchAccountSetting(ctx context.Context, accountID int64, doc json.RawMessage) (json.RawMessage, error) {
	apply := func(s *Settings) error {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(s); err != nil {
			return fmt.Errorf("%w: render settings: %v", engine.ErrInvalid, err)
		}
		if s.CPUPrice < 0 || s.GPUPrice < 0 || s.CPUPrice > maxNodeHourPrice || s.GPUPrice > maxNodeHourPrice {
			return fmt.Errorf("%w: render settings: cpuPrice and gpuPrice must be between 0 and %d per node-hour", engine.ErrInvalid, maxNodeHourPrice)
		}
		if s.TaskOverTime < 0 {
			return fmt.Errorf("%w: render settings: taskOverTime must not be negative", engine.ErrInvalid)
		}
		return nil
	}
	cur, err := a.GetAccountSetting(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var check Settings
	_ = json.Unmarshal(cur, &check) // just encoded above
	if err := apply(&check); err != nil {
		return nil, err // refused before anything is written
	}
	var out Settings
	if err := UpdateSettings(ctx, a.st, accountID, func(s *Settings) {
		_ = apply(s) // the same document on the settings read afresh; it applied above
		out = *s
	}); err != nil {
		return nil, err
	}
	return mustJSON(out), nil
}
