package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const adminAITasksUsage = `usage: taskcenter admin aitasks <command>   (the AI task center of the admin token's account)

  users list
  users create NAME [--role user|admin]      (prints the personal access token and the notify secret)
  users token USER_ID                        (another personal access token)
  users topup USER_ID QUOTA [--note TEXT]    (quota units; negative takes quota away)
  keys list USER_ID
  keys create USER_ID [--name N] [--limit QUOTA] [--expires RFC3339]   (prints the sk- key once)
  keys update KEY_ID [--enable|--disable] [--limit QUOTA] [--expires RFC3339|never]
  channels list [--platform suno|video]
  channels add --platform suno|video --base-url URL --key KEY [--name N] [--models a,b]
                [--weight N] [--priority N]
  channels update ID [--enable|--disable] [--base-url URL] [--key KEY] [--models a,b]
                [--weight N] [--priority N]
  channels delete ID                         (its unfinished tasks are failed and refunded)
  prices list
  prices set PLATFORM ACTION QUOTA [--model M]   (e.g. suno MUSIC 1000; video generate 5000)
`

// aitasks runs `admin aitasks ...` against /api/aitasks/admin/.
func (c adminClient) aitasks(ctx context.Context, a []string) ([]byte, error) {
	arg := func(i int) string {
		if i < len(a) {
			return a[i]
		}
		return ""
	}
	id := func(i int) (string, error) {
		if _, err := strconv.ParseInt(arg(i), 10, 64); err != nil {
			return "", fmt.Errorf("aitasks %s %s: want a numeric id, got %q", arg(0), arg(1), arg(i))
		}
		return arg(i), nil
	}
	flags := func(from int, define func(fs *flag.FlagSet)) error {
		fs := flag.NewFlagSet("aitasks "+arg(0)+" "+arg(1), flag.ContinueOnError)
		define(fs)
		return fs.Parse(a[min(from, len(a)):])
	}
	const base = "/api/aitasks/admin"
	switch arg(0) + " " + arg(1) {
	case "users list":
		return c.do(ctx, "GET", base+"/users", nil)
	case "users create":
		var role string
		if err := flags(3, func(fs *flag.FlagSet) { fs.StringVar(&role, "role", "user", "user or admin") }); err != nil {
			return nil, err
		}
		if arg(2) == "" || strings.HasPrefix(arg(2), "-") {
			return nil, fmt.Errorf("aitasks users create: NAME is required before the flags")
		}
		return c.do(ctx, "POST", base+"/users", map[string]any{"username": arg(2), "role": role})
	case "users token":
		u, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", base+"/users/"+u+"/tokens", map[string]any{})
	case "users topup":
		u, err := id(2)
		if err != nil {
			return nil, err
		}
		q, err := strconv.ParseInt(arg(3), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("aitasks users topup: QUOTA must be an integer")
		}
		var note string
		if err := flags(4, func(fs *flag.FlagSet) { fs.StringVar(&note, "note", "", "kept on the ledger line") }); err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", base+"/users/"+u+"/topup", map[string]any{"quota": q, "note": note})
	case "keys list":
		u, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "GET", base+"/users/"+u+"/keys", nil)
	case "keys create":
		u, err := id(2)
		if err != nil {
			return nil, err
		}
		var name, expires string
		var limit int64
		if err := flags(3, func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "a label")
			fs.Int64Var(&limit, "limit", -1, "quota the key may use; -1 unlimited")
			fs.StringVar(&expires, "expires", "", "RFC 3339 time after which the key is refused")
		}); err != nil {
			return nil, err
		}
		body := map[string]any{"name": name, "quota_limit": limit}
		if err := putExpiry(body, expires); err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", base+"/users/"+u+"/keys", body)
	case "keys update":
		k, err := id(2)
		if err != nil {
			return nil, err
		}
		var enable, disable bool
		var expires string
		limit := int64(-2)
		if err := flags(3, func(fs *flag.FlagSet) {
			fs.BoolVar(&enable, "enable", false, "enable the key")
			fs.BoolVar(&disable, "disable", false, "disable the key")
			fs.Int64Var(&limit, "limit", -2, "quota the key may use; -1 unlimited")
			fs.StringVar(&expires, "expires", "", "RFC 3339 time, or never")
		}); err != nil {
			return nil, err
		}
		body := map[string]any{}
		if enable || disable {
			body["enabled"] = enable
		}
		if limit != -2 {
			body["quota_limit"] = limit
		}
		if err := putExpiry(body, expires); err != nil {
			return nil, err
		}
		return c.do(ctx, "PATCH", base+"/keys/"+k, body)
	case "channels list":
		var platform string
		if err := flags(2, func(fs *flag.FlagSet) { fs.StringVar(&platform, "platform", "", "suno or video") }); err != nil {
			return nil, err
		}
		return c.do(ctx, "GET", base+"/channels?platform="+platform, nil)
	case "channels add", "channels update":
		body := map[string]any{}
		var platform, baseURL, key, name, models string
		var weight, priority int
		var enable, disable bool
		from := 2
		path, method := base+"/channels", "POST"
		if arg(1) == "update" {
			ch, err := id(2)
			if err != nil {
				return nil, err
			}
			from, path, method = 3, path+"/"+ch, "PATCH"
		}
		if err := flags(from, func(fs *flag.FlagSet) {
			fs.StringVar(&platform, "platform", "", "suno or video")
			fs.StringVar(&baseURL, "base-url", "", "the provider's base URL")
			fs.StringVar(&key, "key", "", "the provider's API key (sealed at rest)")
			fs.StringVar(&name, "name", "", "a label")
			fs.StringVar(&models, "models", "", "comma-separated models served; empty serves any")
			fs.IntVar(&weight, "weight", 0, "share among channels of one priority")
			fs.IntVar(&priority, "priority", 0, "higher is tried first")
			fs.BoolVar(&enable, "enable", false, "enable (clears an automatic disable)")
			fs.BoolVar(&disable, "disable", false, "disable")
		}); err != nil {
			return nil, err
		}
		for k, v := range map[string]string{"platform": platform, "base_url": baseURL, "key": key, "name": name, "models": models} {
			if v != "" {
				body[k] = v
			}
		}
		if weight != 0 {
			body["weight"] = weight
		}
		if priority != 0 {
			body["priority"] = priority
		}
		if enable || disable {
			body["enabled"] = enable
		}
		return c.do(ctx, method, path, body)
	case "channels delete":
		ch, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "DELETE", base+"/channels/"+ch, nil)
	case "prices list":
		return c.do(ctx, "GET", base+"/prices", nil)
	case "prices set":
		q, err := strconv.ParseInt(arg(4), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("aitasks prices set: QUOTA must be an integer")
		}
		var model string
		if err := flags(5, func(fs *flag.FlagSet) { fs.StringVar(&model, "model", "", "a model; empty prices any model") }); err != nil {
			return nil, err
		}
		return c.do(ctx, "PUT", base+"/prices", map[string]any{"platform": arg(2), "action": arg(3), "model": model, "quota": q})
	case " ", "help ":
		return []byte(adminAITasksUsage), nil
	}
	return nil, fmt.Errorf("unknown command: admin aitasks %s\n%s", strings.TrimSpace(strings.Join(a, " ")), adminAITasksUsage)
}

func putExpiry(body map[string]any, expires string) error {
	switch expires {
	case "":
	case "never":
		body["expires_at"] = 0
	default:
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			return fmt.Errorf("--expires: want an RFC 3339 time, got %q", expires)
		}
		body["expires_at"] = t.Unix()
	}
	return nil
}
