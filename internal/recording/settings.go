package recording

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// kindSettings is the record kind of an account's recording settings (one, keyed "settings").
const kindSettings = "recording.settings"

// Settings are what an admin sets for an account's recordings (admin accounts settings ID recording).
type Settings struct {
	// PriceMilliPerMinute is charged per started minute recorded (pauses excluded), in thousandths.
	PriceMilliPerMinute int64 `json:"price_milli_per_minute"`
	// QuotaBytes bounds each app's stored files; 0 is no limit. AppQuotaBytes overrides it per app.
	QuotaBytes    int64            `json:"quota_bytes"`
	AppQuotaBytes map[string]int64 `json:"app_quota_bytes,omitempty"`
}

func (s Settings) quotaOf(appID string) int64 {
	if q, ok := s.AppQuotaBytes[appID]; ok {
		return q
	}
	return s.QuotaBytes
}

func (a *API) settings(ctx context.Context, accountID int64) (Settings, error) {
	d, err := facade.GetDocByKey[Settings](ctx, a.st, accountID, kindSettings, "settings")
	if errors.Is(err, store.ErrNotFound) {
		return Settings{}, nil
	}
	return d.Doc, err
}

// AccountSettingName names the settings in the native API.
func (a *API) AccountSettingName() string { return "recording" }

// GetAccountSetting answers an account's recording settings.
func (a *API) GetAccountSetting(ctx context.Context, accountID int64) (json.RawMessage, error) {
	if _, err := a.st.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	s, err := a.settings(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// PatchAccountSetting changes the fields doc names.
func (a *API) PatchAccountSetting(ctx context.Context, accountID int64, doc json.RawMessage) (json.RawMessage, error) {
	if _, err := a.st.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	d, err := facade.GetDocByKey[Settings](ctx, a.st, accountID, kindSettings, "settings")
	if errors.Is(err, store.ErrNotFound) {
		d = facade.Doc[Settings]{Record: store.Record{AccountID: accountID, Kind: kindSettings, Key: "settings"}}
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc, &d.Doc); err != nil {
		return nil, fmt.Errorf("%w: recording settings: %v", engine.ErrInvalid, err)
	}
	if d.Doc.PriceMilliPerMinute < 0 || d.Doc.QuotaBytes < 0 {
		return nil, fmt.Errorf("%w: price and quota must not be negative", engine.ErrInvalid)
	}
	for app, q := range d.Doc.AppQuotaBytes {
		if q < 0 {
			return nil, fmt.Errorf("%w: quota of app %s is negative", engine.ErrInvalid, app)
		}
	}
	if _, err := facade.PutDoc(ctx, a.st, d.Record, d.Doc, a.now()); err != nil {
		return nil, err
	}
	return json.Marshal(d.Doc)
}

// checkCanRecord refuses a new recording when the app's storage is full or the account has nothing
// to pay with while recording is priced.
func (a *API) checkCanRecord(ctx context.Context, ap app) error {
	set, err := a.settings(ctx, ap.AccountID)
	if err != nil {
		return err
	}
	if q := set.quotaOf(ap.ID); q > 0 {
		used, err := a.usedBytes(ctx, ap)
		if err != nil {
			return err
		}
		if used >= q {
			return errf(CodeQuotaFull, "the app's files take %d of its %d bytes: delete some first", used, q)
		}
	}
	if set.PriceMilliPerMinute > 0 {
		acct, err := a.st.GetAccount(ctx, ap.AccountID)
		if err != nil {
			return err
		}
		if acct.BalanceMilli+acct.CouponMilli+acct.CreditMilli <= 0 {
			return errf(CodeNoFunds, "the account has no funds for recording")
		}
	}
	return nil
}
