package render

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
)

// Zones of an account (Settings.Zone, queryPlatforms' zone).
const (
	zoneDomestic = 1
	zoneAbroad   = 2 // the account is kept in US dollars
)

// Settings are an account's render farm profile and switches, kept under the "render" key of
// store.Account.Settings so that other dialects' settings on the same account are left alone.
// Field names are the wire names of queryUserProfile and queryUserSetting.
type Settings struct {
	Platform            int    `json:"platform"`
	Zone                int    `json:"zone"` // zoneDomestic or zoneAbroad
	Phone               string `json:"phone"`
	Email               string `json:"email"`
	Company             string `json:"company"`
	Name                string `json:"name"`
	Job                 string `json:"job"`
	CommunicationNumber string `json:"communicationNumber"`
	Description         string `json:"description"`
	Country             string `json:"country"`
	City                string `json:"city"`
	Address             string `json:"address"`
	SoftType            int    `json:"softType"`
	SoftStatus          int    `json:"softStatus"`
	BusinessType        int    `json:"businessType"`
	Status              int    `json:"status"`
	InfoStatus          int    `json:"infoStatus"`
	UserType            int    `json:"userType"`
	Level               int    `json:"level"`
	// CPUPrice and GPUPrice are the price of one node-hour, billed per second of node time; 0 = free.
	CPUPrice float64 `json:"cpuPrice"`
	GPUPrice float64 `json:"gpuPrice"`
	// The sub-account switches are read from the main account for its sub-accounts.
	ShareMainCapital  int `json:"shareMainCapital"`
	SubDeleteTask     int `json:"subDeleteTask"`
	UseMainBalance    int `json:"useMainBalance"`
	HideBalance       int `json:"hideBalance"`
	HideJobCharge     int `json:"hideJobCharge"`
	UseLevelDirectory int `json:"useLevelDirectory"`
	DownloadDisable   int `json:"downloadDisable"`
	DisplaySubaccount int `json:"displaySubaccount"`
	SubaccountLimits  int `json:"subaccountLimits"`
	HoudiniFlag       int `json:"houdiniFlag"`
	C4DFlag           int `json:"c4dFlag"`
	BlenderFlag       int `json:"blenderFlag"`
	KeyshotFlag       int `json:"keyshotFlag"`
	// queryUserSetting
	SingleNodeRenderFrames    string `json:"singleNodeRenderFrames"`
	MaxIgnoreMapFlag          string `json:"maxIgnoreMapFlag"`
	AutoCommit                string `json:"autoCommit"`
	SeparateAccountFlag       int    `json:"separateAccountFlag"`
	MifileSwitchFlag          int    `json:"mifileSwitchFlag"`
	AssfileSwitchFlag         int    `json:"assfileSwitchFlag"`
	ManuallyStartAnalysisFlag int    `json:"manuallyStartAnalysisFlag"`
	// TaskOverTime is the default per-frame time limit in hours.
	TaskOverTime             int `json:"taskOverTime"`
	IgnoreMapFlag            int `json:"ignoreMapFlag"`
	IsVrayLicense            int `json:"isVrayLicense"`
	JustUploadConfigFlag     int `json:"justUploadConfigFlag"`
	JustUploadCgFlag         int `json:"justUploadCgFlag"`
	MandatoryAnalyseAllAgent int `json:"mandatoryAnalyseAllAgent"`
}

func defaultSettings() Settings {
	return Settings{
		Platform: 2, Zone: zoneDomestic, SoftType: cgBlender, SoftStatus: 1, BusinessType: 1, Status: 1, UserType: 1,
		UseLevelDirectory: 1, DisplaySubaccount: 1, SubaccountLimits: 5, BlenderFlag: 1,
		SingleNodeRenderFrames: "1", MaxIgnoreMapFlag: "1", AutoCommit: "2", TaskOverTime: 12,
	}
}

// settingsOf reads the render settings of an account, defaults filling what was never set.
func settingsOf(a store.Account) (Settings, error) {
	s := defaultSettings()
	if len(a.Settings) == 0 {
		return s, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(a.Settings, &all); err != nil {
		return s, fmt.Errorf("account %d settings: %w", a.ID, err)
	}
	if raw, ok := all["render"]; ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return s, fmt.Errorf("account %d render settings: %w", a.ID, err)
		}
	}
	return s, nil
}

// UpdateSettings changes an account's render settings with fn (prices, sub-account switches, profile).
// The API's updateUserSetting and the admin's PatchAccountSetting (native PATCH
// /api/v1/accounts/{id}/settings/render, `taskcenter admin accounts settings|prices`) go through it.
func UpdateSettings(ctx context.Context, st SettingsStore, accountID int64, fn func(*Settings)) error {
	a, err := st.GetAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("load account %d: %w", accountID, err)
	}
	s, err := settingsOf(a)
	if err != nil {
		return err
	}
	fn(&s)
	all := map[string]json.RawMessage{}
	if len(a.Settings) > 0 {
		if err := json.Unmarshal(a.Settings, &all); err != nil {
			return fmt.Errorf("account %d settings: %w", a.ID, err)
		}
	}
	all["render"] = mustJSON(s)
	a.Settings = mustJSON(all)
	if err := st.UpdateAccount(ctx, a); err != nil {
		return fmt.Errorf("save settings of account %d: %w", accountID, err)
	}
	return nil
}

// CreateAccessKey issues an accessId/accessKey pair for the account; the key is shown once and kept
// sealed with the server key, because verifying an HMAC needs it back.
func CreateAccessKey(ctx context.Context, st KeyStore, keys *auth.Keyring, accountID int64) (accessID, accessKey string, err error) {
	if _, err := st.GetAccount(ctx, accountID); err != nil {
		return "", "", fmt.Errorf("load account %d: %w", accountID, err)
	}
	accessID = "AK" + strings.ToUpper(auth.RandomHex(12))
	key, _, err := auth.IssueSealedKey(ctx, st, keys, accountID, store.CredRender, accessID, "render access key", timeNow())
	if err != nil {
		return "", "", err
	}
	return accessID, key, nil
}

// rules are the sub-account switches in force for an account: its main account's when it is a
// sub-account.
type rules struct {
	main              store.Account // the account itself for a main account
	mainSettings      Settings
	isSub             bool
	subDeleteTask     bool
	shareMainCapital  bool
	useMainBalance    bool
	visibleAccountIDs []int64          // whose tasks the caller sees
	names             map[int64]string // user names of those accounts
}

func (a *API) rulesFor(ctx context.Context, acct store.Account) (rules, error) {
	r := rules{main: acct, visibleAccountIDs: []int64{acct.ID}, names: map[int64]string{acct.ID: acct.Name}}
	if acct.ParentID != 0 {
		m, err := a.st.GetAccount(ctx, acct.ParentID)
		if err != nil {
			return r, fmt.Errorf("load main account %d: %w", acct.ParentID, err)
		}
		r.main, r.isSub = m, true
	}
	ms, err := settingsOf(r.main)
	if err != nil {
		return r, err
	}
	r.mainSettings = ms
	r.subDeleteTask = ms.SubDeleteTask == 1
	r.shareMainCapital = ms.ShareMainCapital == 1
	r.useMainBalance = ms.UseMainBalance == 1
	if !r.isSub {
		// A main account sees and controls its sub-accounts' tasks.
		subs, err := a.subAccounts(ctx, acct.ID, a.eng.Now())
		if err != nil {
			return r, err
		}
		for _, s := range subs {
			r.visibleAccountIDs = append(r.visibleAccountIDs, s.ID)
			r.names[s.ID] = s.Name
		}
	}
	return r, nil
}

// rulesOf is rulesFor the call's account, read once per call: a query that checks several tasks
// asks for it for each.
func (a *API) rulesOf(ctx context.Context, c *call) (rules, error) {
	if c.rules != nil {
		return *c.rules, nil
	}
	r, err := a.rulesFor(ctx, c.account)
	if err == nil {
		c.rules = &r
	}
	return r, err
}

// payer is the account whose money pays for acct's work: the main account when the main account
// shares its capital or lets sub-accounts use its balance.
func (a *API) payer(ctx context.Context, acct store.Account) (store.Account, error) {
	if acct.ParentID == 0 {
		return acct, nil
	}
	r, err := a.rulesFor(ctx, acct)
	if err != nil {
		return acct, err
	}
	if r.shareMainCapital || r.useMainBalance {
		return r.main, nil
	}
	return acct, nil
}

func (a *API) queryUserProfile(ctx context.Context, c *call) (any, error) {
	s, err := settingsOf(c.account)
	if err != nil {
		return nil, err
	}
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return nil, err
	}
	funds := c.account
	if r.isSub && (r.shareMainCapital || r.useMainBalance) {
		funds = r.main
	}
	spent, err := a.cumulative(ctx, c.account.ID)
	if err != nil {
		return nil, err
	}
	accountType, mainUserID := 1, int64(0)
	if r.isSub {
		accountType, mainUserID = 2, r.main.ID
	}
	rmb, usd, rmbCum, usdCum := money(funds.BalanceMilli), 0.0, money(spent), 0.0
	if s.Zone == zoneAbroad { // the account is kept in US dollars
		rmb, usd, rmbCum, usdCum = 0, rmb, 0, rmbCum
	}
	return map[string]any{
		"userId": c.account.ID, "userName": c.account.Name, "platform": s.Platform, "phone": s.Phone,
		"email": s.Email, "company": s.Company, "name": s.Name, "job": s.Job,
		"communicationNumber": s.CommunicationNumber, "softType": s.SoftType, "softStatus": s.SoftStatus,
		"businessType": s.BusinessType, "status": s.Status, "infoStatus": s.InfoStatus,
		"accountType": accountType, "userType": s.UserType, "mainUserId": mainUserID, "level": s.Level,
		"pictureLever": nil, "zone": s.Zone, "rmbbalance": rmb, "usdbalance": usd,
		"rmbCumulative": rmbCum, "usdCumulative": usdCum, "credit": money(funds.CreditMilli),
		"coupon": money(funds.CouponMilli), "description": s.Description, "country": s.Country,
		"city": s.City, "address": s.Address, "cpuPrice": s.CPUPrice, "gpuPrice": s.GPUPrice,
		"shareMainCapital": r.mainSettings.ShareMainCapital, "subDeleteTask": r.mainSettings.SubDeleteTask,
		"useMainBalance": r.mainSettings.UseMainBalance, "hideBalance": s.HideBalance,
		"hideJobCharge": s.HideJobCharge, "useLevelDirectory": s.UseLevelDirectory,
		"downloadDisable": s.DownloadDisable, "displaySubaccount": s.DisplaySubaccount,
		"subaccountLimits": s.SubaccountLimits, "houdiniFlag": s.HoudiniFlag, "c4dFlag": s.C4DFlag,
		"blenderFlag": s.BlenderFlag, "keyshotFlag": s.KeyshotFlag, "studentEndTime": nil,
	}, nil
}

// cumulative is what the account's tasks have cost so far.
func (a *API) cumulative(ctx context.Context, accountID int64) (int64, error) {
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{accountID}, Kind: KindRender, WithDeleted: true})
	if err != nil {
		return 0, fmt.Errorf("list jobs of account %d: %w", accountID, err)
	}
	var sum int64
	for _, j := range jobs {
		sum += j.CostMilli
	}
	return sum, nil
}

func (a *API) queryUserSetting(ctx context.Context, c *call) (any, error) {
	s, err := settingsOf(c.account)
	if err != nil {
		return nil, err
	}
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return nil, err
	}
	accountType := 1
	if r.isSub {
		accountType = 2
	}
	return map[string]any{
		"infoStatus": s.InfoStatus, "accountType": accountType,
		"shareMainCapital": r.mainSettings.ShareMainCapital, "subDeleteTask": r.mainSettings.SubDeleteTask,
		"useMainBalance": r.mainSettings.UseMainBalance, "singleNodeRenderFrames": s.SingleNodeRenderFrames,
		"maxIgnoreMapFlag": s.MaxIgnoreMapFlag, "autoCommit": s.AutoCommit,
		"separateAccountFlag": s.SeparateAccountFlag, "mifileSwitchFlag": s.MifileSwitchFlag,
		"assfileSwitchFlag": s.AssfileSwitchFlag, "manuallyStartAnalysisFlag": s.ManuallyStartAnalysisFlag,
		"downloadDisable": s.DownloadDisable, "taskOverTime": s.TaskOverTime, "ignoreMapFlag": s.IgnoreMapFlag,
		"isVrayLicense": s.IsVrayLicense, "justUploadConfigFlag": s.JustUploadConfigFlag,
		"justUploadCgFlag": s.JustUploadCgFlag, "mandatoryAnalyseAllAgent": s.MandatoryAnalyseAllAgent,
	}, nil
}

// settingFields are what updateUserSetting may change, with their kind: the switches of the settings
// table. Prices and profile data are the operator's (UpdateSettings).
var settingFields = map[string]string{
	"shareMainCapital": "main", "subDeleteTask": "main", "useMainBalance": "main",
	"singleNodeRenderFrames": "str", "maxIgnoreMapFlag": "str", "autoCommit": "str",
	"separateAccountFlag": "int", "mifileSwitchFlag": "int", "assfileSwitchFlag": "int",
	"manuallyStartAnalysisFlag": "int", "downloadDisable": "int", "taskOverTime": "int",
	"ignoreMapFlag": "int", "isVrayLicense": "int", "justUploadConfigFlag": "int", "justUploadCgFlag": "int",
	"mandatoryAnalyseAllAgent": "int",
}

func (a *API) updateUserSetting(ctx context.Context, c *call) (any, error) {
	p := c.p
	if p.has("taskOverTimeSec") && !p.has("taskOverTime") {
		secs, err := p.int("taskOverTimeSec", false, 0)
		if err != nil {
			return nil, err
		}
		// The alias carries seconds; the setting is kept in hours, rounded up so a limit never shrinks.
		p["taskOverTime"] = json.Number(fmt.Sprint((secs + 3599) / 3600))
	}
	changes := map[string]any{}
	for name, kind := range settingFields {
		if !p.has(name) {
			continue
		}
		if kind == "main" && c.account.ParentID != 0 {
			return nil, apiErr(CodeNoPermission, "only the main account may change %s", name)
		}
		switch kind {
		case "str":
			v, err := p.str(name, false)
			if err != nil {
				return nil, err
			}
			changes[name] = v
		default:
			v, err := p.int(name, false, 0)
			if err != nil {
				return nil, err
			}
			if v < 0 || v > 1_000_000 || (kind == "main" && v > 1) {
				return nil, invalid("%s is out of range", name)
			}
			if name == "taskOverTime" && v < 1 {
				return nil, invalid("taskOverTime must be at least 1 hour")
			}
			changes[name] = v
		}
	}
	for _, name := range []string{"cpuPrice", "gpuPrice", "userName", "platform"} {
		if p.has(name) {
			return nil, apiErr(CodeNoPermission, "%s is set by the operator", name)
		}
	}
	if len(changes) == 0 {
		return nil, apiErr(CodeMissing, "no setting to update (e.g. taskOverTime)")
	}
	var applyErr error
	err := UpdateSettings(ctx, a.st, c.account.ID, func(s *Settings) {
		// Round-trip through JSON so the wire names above address the struct fields.
		cur := map[string]any{}
		if err := json.Unmarshal(mustJSON(s), &cur); err != nil {
			applyErr = err
			return
		}
		for k, v := range changes {
			cur[k] = v
		}
		if err := json.Unmarshal(mustJSON(cur), s); err != nil {
			applyErr = err
		}
	})
	if err != nil {
		return nil, err
	}
	if applyErr != nil {
		return nil, fmt.Errorf("apply settings: %w", applyErr)
	}
	return nil, nil
}
