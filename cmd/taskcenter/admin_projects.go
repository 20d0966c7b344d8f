package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

const adminProjectsUsage = `usage: taskcenter admin projects <command> [--account ID]

  template-projects list | get NAME | put NAME FILE   (a template project whole: display_name, roles,
                              template_center, webhook, max_deletes, templates; - reads standard input)
  templates put NAME TEMPLATE FILE | delete NAME TEMPLATE   (one template: {"files": {...}, "config": ...})
  list | get PROJECT          (extended projects; get shows users, roles and template instances)
  trigger INSTANCE            (queue a render of <project>.<template>)
  renders INSTANCE [--limit N] [--offset N]   (render history, newest first)
  tokens list | create USER [--scope write|read] [--ttl 8760h] | revoke ID   (x-kms-user / x-kms-token;
                              --ttl 0 never expires)

--account acts on another account (admin accounts only); the default is the token's own.
`

// projects runs `taskcenter admin projects ...` over the native API's project extensions.
func (c adminClient) projects(ctx context.Context, a []string) ([]byte, error) {
	fs := flag.NewFlagSet("projects", flag.ContinueOnError)
	account := fs.Int64("account", 0, "account to act on")
	scope := fs.String("scope", "write", "token scope: write or read")
	ttl := fs.Duration("ttl", 365*24*time.Hour, "token life; 0 never expires")
	limit := fs.Int("limit", 20, "renders per page")
	offset := fs.Int("offset", 0, "renders to skip")
	// Flags may come before, between or after the positional arguments.
	var pos []string
	for {
		for len(a) > 0 && (len(a[0]) == 0 || a[0][0] != '-') {
			pos, a = append(pos, a[0]), a[1:]
		}
		if len(a) == 0 {
			break
		}
		if err := fs.Parse(a); err != nil {
			return nil, err
		}
		if a = fs.Args(); len(a) == 0 {
			break
		}
	}
	arg := func(i int) string {
		if i < len(pos) {
			return pos[i]
		}
		return ""
	}
	need := func(n int, what string) error {
		if len(pos) < n {
			return fmt.Errorf("admin projects %s %s: %s required", arg(0), arg(1), what)
		}
		return nil
	}
	q := url.Values{}
	if *account != 0 {
		q.Set("account", strconv.FormatInt(*account, 10))
	}
	path := func(p string, extra ...string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		if len(v) == 0 {
			return "/api/v1/projects/" + p
		}
		return "/api/v1/projects/" + p + "?" + v.Encode()
	}
	esc := url.PathEscape
	switch arg(0) + " " + arg(1) {
	case "template-projects list":
		return c.do(ctx, "GET", path("template-projects"), nil)
	case "template-projects get":
		if err := need(3, "NAME"); err != nil {
			return nil, err
		}
		return c.do(ctx, "GET", path("template-projects/"+esc(arg(2))), nil)
	case "template-projects put":
		if err := need(4, "NAME and FILE"); err != nil {
			return nil, err
		}
		b, err := readArgFile(arg(3))
		if err != nil {
			return nil, fmt.Errorf("read template project: %w", err)
		}
		return c.do(ctx, "PUT", path("template-projects/"+esc(arg(2))), json.RawMessage(b))
	case "templates put":
		if err := need(5, "NAME, TEMPLATE and FILE"); err != nil {
			return nil, err
		}
		b, err := readArgFile(arg(4))
		if err != nil {
			return nil, fmt.Errorf("read template: %w", err)
		}
		return c.do(ctx, "PUT", path("template-projects/"+esc(arg(2))+"/templates/"+esc(arg(3))), json.RawMessage(b))
	case "templates delete":
		if err := need(4, "NAME and TEMPLATE"); err != nil {
			return nil, err
		}
		return c.do(ctx, "DELETE", path("template-projects/"+esc(arg(2))+"/templates/"+esc(arg(3))), nil)
	case "list ":
		return c.do(ctx, "GET", path("projects"), nil)
	case "get " + arg(1):
		if err := need(2, "PROJECT"); err != nil {
			return nil, err
		}
		return c.do(ctx, "GET", path("projects/"+esc(arg(1))), nil)
	case "trigger " + arg(1):
		if err := need(2, "INSTANCE"); err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", path("templates/"+esc(arg(1))+"/trigger"), nil)
	case "renders " + arg(1):
		if err := need(2, "INSTANCE"); err != nil {
			return nil, err
		}
		return c.do(ctx, "GET", path("templates/"+esc(arg(1))+"/renders", "limit", strconv.Itoa(*limit), "offset", strconv.Itoa(*offset)), nil)
	case "tokens list":
		return c.do(ctx, "GET", path("tokens"), nil)
	case "tokens create":
		if err := need(3, "USER"); err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", path("tokens"), map[string]any{"user": arg(2), "scope": *scope, "ttl_seconds": int64(ttl.Seconds())})
	case "tokens revoke":
		if err := need(3, "ID"); err != nil {
			return nil, err
		}
		return c.do(ctx, "DELETE", path("tokens/"+esc(arg(2))), nil)
	case " ", "help ":
		return []byte(adminProjectsUsage), nil
	}
	return nil, errors.New("admin projects: unknown command; see `taskcenter admin projects help`")
}
