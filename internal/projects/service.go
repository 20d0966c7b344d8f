package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// loadTemplateProject reads a template project of the account.
func (a *API) loadTemplateProject(ctx context.Context, account int64, name string) (facade.Doc[templateProject], error) {
	return facade.GetDocByKey[templateProject](ctx, a.st, account, kindTemplateProject, name)
}

// loadProject reads an extended project of the account; an unknown one is a not-found whose desc
// names it.
func (a *API) loadProject(ctx context.Context, account int64, name string) (facade.Doc[project], error) {
	d, err := facade.GetDocByKey[project](ctx, a.st, account, kindProject, name)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound("project %s does not exist", name)
	}
	return d, err
}

// text reads an optional text parameter of at most max characters (0: the body's bound).
func text(p facade.Params, name string, required bool, max int) (string, error) {
	s, err := p.Text(name, required, max)
	return s, err
}

// lengthBetween checks a name's length in characters (the rulings: characters, not bytes).
func lengthBetween(name, s string, min, max int) error {
	if n := utf8.RuneCountInString(s); n < min || n > max {
		return codes.New(codeBadParam, "%s must be %d-%d characters", name, min, max)
	}
	return nil
}

// identities reads a comma-separated list of full user identities.
func identities(p facade.Params, name string, required bool) ([]string, error) {
	s, err := p.Text(name, required, 0)
	if err != nil {
		return nil, err
	}
	list := splitList(s)
	if required && len(list) == 0 {
		return nil, codes.New(codeMissing, "%s is required", name)
	}
	if len(list) > maxUsersPerCall {
		return nil, codes.New(codeBadParam, "%s lists more than %d users", name, maxUsersPerCall)
	}
	for _, u := range list {
		if !checkIdentity(u) {
			return nil, codes.New(codeBadParam, "%s: %q is not a full user identity (name@domain)", name, u)
		}
	}
	return list, nil
}

// createProject is /service/createExtendedProject.
func (a *API) createProject(ctx context.Context, c *call) (any, string, error) {
	from, err := text(c.p, "from", true, 0)
	if err != nil {
		return nil, "", err
	}
	base, ok := strings.CutSuffix(from, templateSuffix)
	if !ok || !baseNameRe.MatchString(base) {
		return nil, "", codes.New(codeBadParam, "from must name a template project, <name>-template")
	}
	id, err := text(c.p, "id", true, 0)
	if err != nil {
		return nil, "", err
	}
	if !projectIDRe.MatchString(id) {
		return nil, "", codes.New(codeBadParam, "id must start with a letter and hold 2-32 lowercase letters, digits and hyphens")
	}
	name, err := text(c.p, "name", true, 0)
	if err != nil {
		return nil, "", err
	}
	if err := lengthBetween("name", name, 2, 32); err != nil {
		return nil, "", err
	}
	admins, err := identities(c.p, "admins", false)
	if err != nil {
		return nil, "", err
	}
	appid, err := text(c.p, "appid", false, maxFreeTextChars)
	if err != nil {
		return nil, "", err
	}
	zone, err := text(c.p, "timeZone", false, 0)
	if err != nil {
		return nil, "", err
	}
	if zone == "" {
		zone = a.cfg.DefaultTimeZone
	} else if err := loadZone(zone); err != nil {
		return nil, "", codes.New(codeBadParam, "%v", err)
	}
	desc, err := text(c.p, "desc", false, maxFreeTextChars)
	if err != nil {
		return nil, "", err
	}

	account := c.caller.account.ID
	tp, err := a.loadTemplateProject(ctx, account, from)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", failure("template project %s does not exist", from)
	}
	if err != nil {
		return nil, "", err
	}
	full := id + "-" + base
	p := project{ID: full, Base: id, From: tp.Doc.Name, Name: name, AppID: appid, TimeZone: zone, Desc: desc, CreatedBy: c.caller.user}
	err = a.st.InTx(ctx, func(tx store.Store) error {
		rec, err := facade.PutDoc(ctx, tx, store.Record{AccountID: account, Kind: kindProject, Key: full}, p, a.now())
		if err != nil {
			return err
		}
		return addMembers(ctx, tx, rec, admins, []string{"admin"}, a.now())
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, "", failure("project %s already exists", full)
	}
	if err != nil {
		return nil, "", err
	}
	return full, "", nil
}

// addMembers gives each user each role in the project (inside the caller's transaction), keeping
// what is there already.
func addMembers(ctx context.Context, tx store.Store, proj store.Record, users, roles []string, now time.Time) error {
	existing, _, err := tx.ListRecords(ctx, store.RecordFilter{AccountIDs: []int64{proj.AccountID}, Kind: kindMember, ParentID: proj.ID})
	if err != nil {
		return fmt.Errorf("list members of %s: %w", proj.Key, err)
	}
	have := make(map[string]bool, len(existing))
	for _, r := range existing {
		have[r.Key] = true
	}
	for _, u := range users {
		for _, role := range roles {
			key := memberKey(proj.Key, u, role)
			if have[key] {
				continue
			}
			have[key] = true
			if _, err := facade.PutDoc(ctx, tx, store.Record{AccountID: proj.AccountID, Kind: kindMember, ParentID: proj.ID, Key: key},
				member{User: u, Role: role}, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// inTxRetrying runs fn in a transaction, again when a concurrent writer took a key first (two calls
// adding the same member at once): the second run sees the first's rows.
func (a *API) inTxRetrying(ctx context.Context, fn func(tx store.Store) error) error {
	var err error
	for range 3 {
		if err = a.st.InTx(ctx, fn); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}

// updateProject is /service/updateExtendedProject.
func (a *API) updateProject(ctx context.Context, c *call) (any, string, error) {
	full, err := text(c.p, "id", true, 0)
	if err != nil {
		return nil, "", err
	}
	if _, _, ok := strings.Cut(full, "-"); !ok || !fullNameOK(full) {
		return nil, "", codes.New(codeBadParam, "id must be a full project name, yyyy-xxxx")
	}
	var name *string
	if c.p.Has("name") {
		s, err := text(c.p, "name", false, 0)
		if err != nil {
			return nil, "", err
		}
		if err := lengthBetween("name", s, 2, 32); err != nil {
			return nil, "", err
		}
		name = &s
	}
	admins, err := identities(c.p, "admins", false)
	if err != nil {
		return nil, "", err
	}
	appendAdmins, err := appendFlag(c.p)
	if err != nil {
		return nil, "", err
	}
	var appid, zone, desc *string
	for _, f := range []struct {
		name string
		dst  **string
	}{{"appid", &appid}, {"timeZone", &zone}, {"desc", &desc}} {
		if c.p.Has(f.name) {
			s, err := text(c.p, f.name, false, maxFreeTextChars)
			if err != nil {
				return nil, "", err
			}
			*f.dst = &s
		}
	}
	if zone != nil {
		if err := loadZone(*zone); err != nil {
			return nil, "", codes.New(codeBadParam, "%v", err)
		}
	}

	account := c.caller.account.ID
	err = a.inTxRetrying(ctx, func(tx store.Store) error {
		d, err := facade.GetDocByKey[project](ctx, tx, account, kindProject, full)
		if errors.Is(err, store.ErrNotFound) {
			return failure("project %s does not exist", full)
		}
		if err != nil {
			return err
		}
		p := d.Doc
		for _, f := range []struct {
			v   *string
			dst *string
		}{{name, &p.Name}, {appid, &p.AppID}, {zone, &p.TimeZone}, {desc, &p.Desc}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		rec, err := facade.PutDoc(ctx, tx, d.Record, p, a.now())
		if err != nil {
			return err
		}
		if len(admins) == 0 { // append has no effect without admins
			return nil
		}
		if !appendAdmins {
			// Replace: the admin role is taken from everyone not listed.
			existing, _, err := tx.ListRecords(ctx, store.RecordFilter{AccountIDs: []int64{account}, Kind: kindMember, ParentID: rec.ID})
			if err != nil {
				return fmt.Errorf("list members of %s: %w", full, err)
			}
			for _, r := range existing {
				m, err := facade.DecodeDoc[member](r)
				if err != nil {
					return err
				}
				if m.Doc.Role == "admin" && !slices.Contains(admins, m.Doc.User) {
					if err := tx.DeleteRecord(ctx, r.ID); err != nil {
						return fmt.Errorf("remove admin %s of %s: %w", m.Doc.User, full, err)
					}
				}
			}
		}
		return addMembers(ctx, tx, rec, admins, []string{"admin"}, a.now())
	})
	if err != nil {
		return nil, "", err
	}
	return "", "", nil
}

// fullNameOK checks the shape of a full project name yyyy-xxxx.
func fullNameOK(s string) bool {
	return len(s) <= 32+1+64 && baseNameRe.MatchString(s) && strings.Contains(s, "-")
}

// appendFlag reads append: 1/0/true/false as a JSON number, boolean or string; 1 when absent.
func appendFlag(p facade.Params) (bool, error) {
	v, ok := p.Raw("append")
	if !ok {
		return true, nil
	}
	var s string
	switch t := v.(type) {
	case bool:
		return t, nil
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	default:
		return false, codes.New(codeBadParam, "append must be 1, 0, true or false")
	}
	switch strings.ToLower(s) {
	case "1", "true", "":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, codes.New(codeBadParam, "append must be 1, 0, true or false")
}

// projectParam reads the :project of a read call.
func projectParam(c *call) (string, error) {
	name := c.r.PathValue("project")
	if !fullNameOK(name) {
		return "", failure("project %q is not a project name (yyyy-xxxx)", name)
	}
	return name, nil
}

// readRoles is /service/readExtendedProjectRoles/:project: the roles its template project offers.
func (a *API) readRoles(ctx context.Context, c *call) (any, string, error) {
	name, err := projectParam(c)
	if err != nil {
		return nil, "", err
	}
	p, err := a.loadProject(ctx, c.caller.account.ID, name)
	if err != nil {
		return nil, "", err
	}
	tp, err := a.loadTemplateProject(ctx, c.caller.account.ID, p.Doc.From)
	if err != nil {
		return nil, "", fmt.Errorf("load template project %s of %s: %w", p.Doc.From, name, err)
	}
	return tp.Doc.Roles, "", nil
}

// readUsers is /service/readExtendedProjectUsers/:project: each member with its roles.
func (a *API) readUsers(ctx context.Context, c *call) (any, string, error) {
	name, err := projectParam(c)
	if err != nil {
		return nil, "", err
	}
	p, err := a.loadProject(ctx, c.caller.account.ID, name)
	if err != nil {
		return nil, "", err
	}
	users, err := a.members(ctx, p.Record)
	if err != nil {
		return nil, "", err
	}
	return users, "", nil
}

// members maps each member of a project to its roles, in the order of the template project's roles.
func (a *API) members(ctx context.Context, proj store.Record) (map[string][]string, error) {
	rs, _, err := a.st.ListRecords(ctx, store.RecordFilter{AccountIDs: []int64{proj.AccountID}, Kind: kindMember, ParentID: proj.ID})
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", proj.Key, err)
	}
	out := map[string][]string{}
	for _, r := range rs {
		m, err := facade.DecodeDoc[member](r)
		if err != nil {
			return nil, err
		}
		out[m.Doc.User] = append(out[m.Doc.User], m.Doc.Role)
	}
	for _, roles := range out {
		slices.SortFunc(roles, func(x, y string) int {
			if x == "admin" || y == "admin" { // admin first, as the template project lists it
				return boolCmp(y == "admin", x == "admin")
			}
			return strings.Compare(x, y)
		})
	}
	return out, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// addUsers is /service/addExtendedProjectUsers.
func (a *API) addUsers(ctx context.Context, c *call) (any, string, error) {
	name, err := text(c.p, "project", true, 0)
	if err != nil {
		return nil, "", err
	}
	if !fullNameOK(name) {
		return nil, "", codes.New(codeBadParam, "project must be a full project name, yyyy-xxxx")
	}
	users, err := identities(c.p, "users", true)
	if err != nil {
		return nil, "", err
	}
	rolesText, err := text(c.p, "roles", true, 0)
	if err != nil {
		return nil, "", err
	}
	roles := splitList(rolesText)
	if len(roles) == 0 {
		return nil, "", codes.New(codeMissing, "roles is required")
	}
	account := c.caller.account.ID
	p, err := a.loadProject(ctx, account, name)
	if err != nil {
		return nil, "", err
	}
	tp, err := a.loadTemplateProject(ctx, account, p.Doc.From)
	if err != nil {
		return nil, "", fmt.Errorf("load template project %s of %s: %w", p.Doc.From, name, err)
	}
	for _, r := range roles {
		if !slices.Contains(tp.Doc.Roles, r) {
			return nil, "", failure("role %s is not offered by project %s (roles: %s)", r, name, strings.Join(tp.Doc.Roles, ","))
		}
	}
	err = a.inTxRetrying(ctx, func(tx store.Store) error {
		return addMembers(ctx, tx, p.Record, users, roles, a.now())
	})
	if err != nil {
		return nil, "", err
	}
	return nil, "ok", nil
}
