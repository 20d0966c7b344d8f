package aitasks

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Administration: the operations behind `taskcenter admin aitasks ...`, as Go methods and as routes
// under /api/aitasks/admin/ that take the server's admin token (Authorization: Bearer). The tenant
// is the admin token's account: its users are sub-accounts of it, and its channels and prices are
// its own.

// CreateUser makes a user of tenant with its own account (its quota) and a personal access token.
func (a *API) CreateUser(ctx context.Context, tenant int64, username, role string) (store.AIUser, string, error) {
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 64 || !facade.ValidText(username) {
		return store.AIUser{}, "", fmt.Errorf("%w: a user name of 1 to 64 characters is required", store.ErrInvalid)
	}
	if role == "" {
		role = store.AIRoleUser
	}
	if role != store.AIRoleUser && role != store.AIRoleAdmin {
		return store.AIUser{}, "", fmt.Errorf("%w: role is user or admin", store.ErrInvalid)
	}
	var u store.AIUser
	var token string
	now := a.now()
	err := a.st.InTx(ctx, func(tx store.Store) error {
		acct, err := tx.CreateAccount(ctx, store.Account{ParentID: tenant, Name: fmt.Sprintf("aitasks:%d:%s", tenant, username),
			Role: store.RoleUser, CreatedAt: now})
		if err != nil {
			return err
		}
		if u, err = tx.CreateAIUser(ctx, store.AIUser{TenantID: tenant, AccountID: acct.ID, Username: username, Role: role, CreatedAt: now}); err != nil {
			return err
		}
		token, _, err = auth.IssueToken(ctx, tx, acct.ID, CredToken, "aitasks "+username, now)
		return err
	})
	if err != nil {
		return store.AIUser{}, "", fmt.Errorf("create ai user %q: %w", username, err)
	}
	return u, token, nil
}

// IssueToken gives a user another personal access token.
func (a *API) IssueToken(ctx context.Context, u store.AIUser) (string, error) {
	tok, _, err := auth.IssueToken(ctx, a.st, u.AccountID, CredToken, "aitasks "+u.Username, a.now())
	return tok, err
}

// IssueKey makes an API key of the user: limit -1 is unlimited, expires nil never.
func (a *API) IssueKey(ctx context.Context, userID int64, name string, limit int64, expires *time.Time) (string, store.AIKey, error) {
	if !facade.ValidText(name) || len(name) > 100 {
		return "", store.AIKey{}, fmt.Errorf("%w: bad key name", store.ErrInvalid)
	}
	key := newKey()
	k, err := a.st.CreateAIKey(ctx, store.AIKey{UserID: userID, Name: name, Hash: hashKey(key), Tail: key[len(key)-4:],
		QuotaLimit: limit, Enabled: true, ExpiresAt: expires, CreatedAt: a.now()})
	if err != nil {
		return "", store.AIKey{}, err
	}
	return key, k, nil
}

// TopUp adds quota to a user (negative takes it away, never below zero), with its ledger line.
func (a *API) TopUp(ctx context.Context, u store.AIUser, quota int64, note string) (int64, error) {
	acct, ok, err := a.eng.AdjustFunds(ctx, u.AccountID, store.FundsDelta{BalanceMilli: quota}, cmpOr(note, "aitasks top-up"))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: the user's quota would go below zero", store.ErrInvalid)
	}
	return acct.CouponMilli + acct.BalanceMilli + acct.CreditMilli, nil
}

// Quota is a user's remaining quota.
func (a *API) Quota(ctx context.Context, u store.AIUser) (int64, error) {
	acct, err := a.st.GetAccount(ctx, u.AccountID)
	return acct.CouponMilli + acct.BalanceMilli + acct.CreditMilli, err
}

// AddChannel configures an upstream; its key is sealed at rest.
func (a *API) AddChannel(ctx context.Context, c store.AIChannel, key string) (store.AIChannel, error) {
	if err := a.checkChannel(&c); err != nil {
		return store.AIChannel{}, err
	}
	sealed, err := a.sealKey(c.TenantID, key)
	if err != nil {
		return store.AIChannel{}, err
	}
	c.KeySealed, c.CreatedAt = sealed, a.now()
	defer a.dropCaches(c.TenantID)
	return a.st.CreateAIChannel(ctx, c)
}

func (a *API) checkChannel(c *store.AIChannel) error {
	if _, ok := a.adaptors[c.Platform]; !ok {
		return fmt.Errorf("%w: unknown platform %q (suno or video)", store.ErrInvalid, c.Platform)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: base_url must be an http(s) URL", store.ErrInvalid)
	}
	if c.Weight <= 0 {
		c.Weight = 1
	}
	return nil
}

func channelAAD(tenant int64) []byte {
	return []byte("aitasks-channel\x00" + strconv.FormatInt(tenant, 10))
}

func (a *API) sealKey(tenant int64, key string) (string, error) {
	b, err := a.keys.Seal([]byte(key), channelAAD(tenant))
	if err != nil {
		return "", fmt.Errorf("seal channel key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func (a *API) openKey(c store.AIChannel) (string, error) {
	if c.KeySealed == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(c.KeySealed)
	if err != nil {
		return "", fmt.Errorf("decode channel key: %w", err)
	}
	k, err := a.keys.Open(b, channelAAD(c.TenantID))
	if err != nil {
		return "", fmt.Errorf("open channel key: %w", err)
	}
	return string(k), nil
}

// SetPrice sets what a task of platform, action and model ("" for any model) costs in quota.
func (a *API) SetPrice(ctx context.Context, p store.AIPrice) error {
	if _, ok := a.adaptors[p.Platform]; !ok {
		return fmt.Errorf("%w: unknown platform %q", store.ErrInvalid, p.Platform)
	}
	if p.Quota < 0 || p.Action == "" {
		return fmt.Errorf("%w: a price needs an action and a quota of 0 or more", store.ErrInvalid)
	}
	defer a.dropCaches(p.TenantID)
	return a.st.SetAIPrice(ctx, p)
}

// --- routes ---

func (a *API) mountAdmin(mux *http.ServeMux) {
	h := func(pattern string, fn func(r *http.Request, tenant int64, body map[string]any) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { a.admin(w, r, fn) })
	}
	h("GET /api/aitasks/admin/users", a.adminUsers)
	h("POST /api/aitasks/admin/users", a.adminCreateUser)
	h("POST /api/aitasks/admin/users/{id}/tokens", a.adminToken)
	h("POST /api/aitasks/admin/users/{id}/keys", a.adminCreateKey)
	h("GET /api/aitasks/admin/users/{id}/keys", a.adminKeys)
	h("POST /api/aitasks/admin/users/{id}/topup", a.adminTopUp)
	h("PATCH /api/aitasks/admin/keys/{id}", a.adminUpdateKey)
	h("GET /api/aitasks/admin/channels", a.adminChannels)
	h("POST /api/aitasks/admin/channels", a.adminCreateChannel)
	h("PATCH /api/aitasks/admin/channels/{id}", a.adminUpdateChannel)
	h("DELETE /api/aitasks/admin/channels/{id}", a.adminDeleteChannel)
	h("GET /api/aitasks/admin/prices", a.adminPrices)
	h("PUT /api/aitasks/admin/prices", a.adminSetPrice)
}

func (a *API) admin(w http.ResponseWriter, r *http.Request, fn func(r *http.Request, tenant int64, body map[string]any) (any, error)) {
	c, err := auth.VerifyToken(r.Context(), a.st, store.CredAdmin, facade.Bearer(r), a.now())
	if err != nil {
		facade.JSONError(w, http.StatusUnauthorized, "an admin token is required")
		return
	}
	body := map[string]any{}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		raw, err := a.readBody(w, r)
		if err == nil && len(raw) > 0 {
			body, err = facade.DecodeObject(raw)
		}
		if err != nil {
			facade.JSONError(w, http.StatusBadRequest, "the body must be a JSON object")
			return
		}
	}
	out, err := fn(r, c.AccountID, body)
	if r.Method != http.MethodGet {
		a.dropCaches(c.AccountID)
	}
	if err != nil {
		facade.Fail(w, r, a.log, err)
		return
	}
	facade.JSON(w, http.StatusOK, out)
}

func str(b map[string]any, k string) string { s, _ := b[k].(string); return s }

func num(b map[string]any, k string, def int64) (int64, error) {
	v, ok := b[k]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case json.Number:
		return x.Int64()
	case float64:
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("%w: %s must be a number", store.ErrInvalid, k)
}

// userOfTenant reads the {id} user of the path, answering not found for another tenant's.
func (a *API) userOfTenant(r *http.Request, tenant int64) (store.AIUser, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return store.AIUser{}, store.ErrNotFound
	}
	u, err := a.st.GetAIUser(r.Context(), id)
	if err == nil && u.TenantID != tenant {
		err = store.ErrNotFound
	}
	return u, err
}

type userView struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	Role         string `json:"role"`
	AccountID    int64  `json:"account_id"`
	Quota        int64  `json:"quota"`
	Token        string `json:"token,omitempty"`
	NotifySecret string `json:"notify_secret,omitempty"`
}

func (a *API) adminUsers(r *http.Request, tenant int64, _ map[string]any) (any, error) {
	us, err := a.st.ListAIUsers(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	out := make([]userView, len(us))
	for i, u := range us {
		q, err := a.Quota(r.Context(), u)
		if err != nil {
			return nil, err
		}
		out[i] = userView{ID: u.ID, Username: u.Username, Role: u.Role, AccountID: u.AccountID, Quota: q}
	}
	return out, nil
}

func (a *API) adminCreateUser(r *http.Request, tenant int64, b map[string]any) (any, error) {
	u, tok, err := a.CreateUser(r.Context(), tenant, str(b, "username"), str(b, "role"))
	if err != nil {
		return nil, err
	}
	return userView{ID: u.ID, Username: u.Username, Role: u.Role, AccountID: u.AccountID, Token: tok,
		NotifySecret: a.NotifySecret(u.ID)}, nil
}

func (a *API) adminToken(r *http.Request, tenant int64, _ map[string]any) (any, error) {
	u, err := a.userOfTenant(r, tenant)
	if err != nil {
		return nil, err
	}
	tok, err := a.IssueToken(r.Context(), u)
	return map[string]string{"token": tok, "notify_secret": a.NotifySecret(u.ID)}, err
}

type keyView struct {
	ID         int64  `json:"id"`
	UserID     int64  `json:"user_id"`
	Name       string `json:"name"`
	Key        string `json:"key,omitempty"`
	Tail       string `json:"tail"`
	QuotaLimit int64  `json:"quota_limit"`
	QuotaUsed  int64  `json:"quota_used"`
	Enabled    bool   `json:"enabled"`
	ExpiresAt  int64  `json:"expires_at"`
}

func viewKey(k store.AIKey, key string) keyView {
	v := keyView{ID: k.ID, UserID: k.UserID, Name: k.Name, Key: key, Tail: k.Tail, QuotaLimit: k.QuotaLimit,
		QuotaUsed: k.QuotaUsed, Enabled: k.Enabled}
	if k.ExpiresAt != nil {
		v.ExpiresAt = k.ExpiresAt.Unix()
	}
	return v
}

func expiryOf(b map[string]any) (*time.Time, error) {
	secs, err := num(b, "expires_at", 0)
	if err != nil || secs <= 0 {
		return nil, err
	}
	t := time.Unix(secs, 0).UTC()
	return &t, nil
}

func (a *API) adminCreateKey(r *http.Request, tenant int64, b map[string]any) (any, error) {
	u, err := a.userOfTenant(r, tenant)
	if err != nil {
		return nil, err
	}
	limit, err := num(b, "quota_limit", -1)
	if err != nil {
		return nil, err
	}
	exp, err := expiryOf(b)
	if err != nil {
		return nil, err
	}
	key, k, err := a.IssueKey(r.Context(), u.ID, str(b, "name"), limit, exp)
	if err != nil {
		return nil, err
	}
	return viewKey(k, key), nil
}

func (a *API) adminKeys(r *http.Request, tenant int64, _ map[string]any) (any, error) {
	u, err := a.userOfTenant(r, tenant)
	if err != nil {
		return nil, err
	}
	ks, err := a.st.ListAIKeys(r.Context(), u.ID)
	out := make([]keyView, len(ks))
	for i, k := range ks {
		out[i] = viewKey(k, "")
	}
	return out, err
}

func (a *API) adminUpdateKey(r *http.Request, tenant int64, b map[string]any) (any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, store.ErrNotFound
	}
	var found *store.AIKey
	us, err := a.st.ListAIUsers(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		ks, err := a.st.ListAIKeys(r.Context(), u.ID)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if k.ID == id {
				found = &k
			}
		}
	}
	if found == nil {
		return nil, store.ErrNotFound
	}
	k := *found
	if v, ok := b["enabled"].(bool); ok {
		k.Enabled = v
	}
	if _, ok := b["quota_limit"]; ok {
		if k.QuotaLimit, err = num(b, "quota_limit", -1); err != nil {
			return nil, err
		}
	}
	if _, ok := b["expires_at"]; ok {
		if k.ExpiresAt, err = expiryOf(b); err != nil {
			return nil, err
		}
	}
	if n, ok := b["name"].(string); ok {
		k.Name = n
	}
	return viewKey(k, ""), a.st.UpdateAIKey(r.Context(), k)
}

func (a *API) adminTopUp(r *http.Request, tenant int64, b map[string]any) (any, error) {
	u, err := a.userOfTenant(r, tenant)
	if err != nil {
		return nil, err
	}
	q, err := num(b, "quota", 0)
	if err != nil {
		return nil, err
	}
	left, err := a.TopUp(r.Context(), u, q, str(b, "note"))
	return map[string]int64{"user_id": u.ID, "quota": left}, err
}

type channelView struct {
	ID           int64    `json:"id"`
	Platform     string   `json:"platform"`
	Name         string   `json:"name"`
	BaseURL      string   `json:"base_url"`
	Models       []string `json:"models"`
	Weight       int      `json:"weight"`
	Priority     int      `json:"priority"`
	Enabled      bool     `json:"enabled"`
	AuthFailures int      `json:"auth_failures"`
	StatusReason string   `json:"status_reason"`
}

func viewChannel(c store.AIChannel) channelView {
	if c.Models == nil {
		c.Models = []string{}
	}
	return channelView{ID: c.ID, Platform: c.Platform, Name: c.Name, BaseURL: c.BaseURL, Models: c.Models, Weight: c.Weight,
		Priority: c.Priority, Enabled: c.Enabled, AuthFailures: c.AuthFailures, StatusReason: c.StatusReason}
}

func models(b map[string]any) []string {
	var out []string
	switch v := b["models"].(type) {
	case string:
		for _, m := range strings.Split(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
		}
	case []any:
		for _, m := range v {
			if s, ok := m.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (a *API) adminChannels(r *http.Request, tenant int64, _ map[string]any) (any, error) {
	cs, err := a.st.ListAIChannels(r.Context(), tenant, r.URL.Query().Get("platform"))
	out := make([]channelView, len(cs))
	for i, c := range cs {
		out[i] = viewChannel(c)
	}
	return out, err
}

func (a *API) adminCreateChannel(r *http.Request, tenant int64, b map[string]any) (any, error) {
	w, err := num(b, "weight", 1)
	if err != nil {
		return nil, err
	}
	p, err := num(b, "priority", 0)
	if err != nil {
		return nil, err
	}
	enabled := true
	if v, ok := b["enabled"].(bool); ok {
		enabled = v
	}
	c, err := a.AddChannel(r.Context(), store.AIChannel{TenantID: tenant, Platform: str(b, "platform"), Name: str(b, "name"),
		BaseURL: str(b, "base_url"), Models: models(b), Weight: int(w), Priority: int(p), Enabled: enabled}, str(b, "key"))
	if err != nil {
		return nil, err
	}
	return viewChannel(c), nil
}

func (a *API) channelOfTenant(r *http.Request, tenant int64) (store.AIChannel, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return store.AIChannel{}, store.ErrNotFound
	}
	c, err := a.st.GetAIChannel(r.Context(), id)
	if err == nil && c.TenantID != tenant {
		err = store.ErrNotFound
	}
	return c, err
}

func (a *API) adminUpdateChannel(r *http.Request, tenant int64, b map[string]any) (any, error) {
	c, err := a.channelOfTenant(r, tenant)
	if err != nil {
		return nil, err
	}
	if v, ok := b["enabled"].(bool); ok {
		c.Enabled = v
		if v {
			c.AuthFailures, c.StatusReason = 0, ""
		} else if c.StatusReason == "" {
			c.StatusReason = "disabled by an administrator"
		}
	}
	for k, dst := range map[string]*string{"name": &c.Name, "base_url": &c.BaseURL} {
		if v, ok := b[k].(string); ok {
			*dst = v
		}
	}
	if _, ok := b["models"]; ok {
		c.Models = models(b)
	}
	for k, dst := range map[string]*int{"weight": &c.Weight, "priority": &c.Priority} {
		if _, ok := b[k]; ok {
			v, err := num(b, k, 0)
			if err != nil {
				return nil, err
			}
			*dst = int(v)
		}
	}
	if k, ok := b["key"].(string); ok {
		if c.KeySealed, err = a.sealKey(c.TenantID, k); err != nil {
			return nil, err
		}
	}
	if err := a.checkChannel(&c); err != nil {
		return nil, err
	}
	return viewChannel(c), a.st.UpdateAIChannel(r.Context(), c, a.now())
}

// adminDeleteChannel removes a channel; its unfinished tasks are failed and refunded by the poller.
func (a *API) adminDeleteChannel(r *http.Request, tenant int64, _ map[string]any) (any, error) {
	c, err := a.channelOfTenant(r, tenant)
	if err != nil {
		return nil, err
	}
	c.Deleted, c.Enabled = true, false
	return map[string]int64{"deleted": c.ID}, a.st.UpdateAIChannel(r.Context(), c, a.now())
}

func (a *API) adminPrices(r *http.Request, tenant int64, _ map[string]any) (any, error) {
	ps, err := a.st.ListAIPrices(r.Context(), tenant)
	type view struct {
		Platform string `json:"platform"`
		Action   string `json:"action"`
		Model    string `json:"model"`
		Quota    int64  `json:"quota"`
	}
	out := make([]view, len(ps))
	for i, p := range ps {
		out[i] = view{p.Platform, p.Action, p.Model, p.Quota}
	}
	return out, err
}

func (a *API) adminSetPrice(r *http.Request, tenant int64, b map[string]any) (any, error) {
	q, err := num(b, "quota", -1)
	if err != nil {
		return nil, err
	}
	p := store.AIPrice{TenantID: tenant, Platform: str(b, "platform"), Action: str(b, "action"), Model: str(b, "model"), Quota: q}
	if err := a.SetPrice(r.Context(), p); err != nil {
		return nil, err
	}
	return map[string]any{"platform": p.Platform, "action": p.Action, "model": p.Model, "quota": p.Quota}, nil
}
