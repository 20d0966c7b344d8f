package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/app"
)

const adminUsage = `usage: taskcenter admin [--server URL] [--token T | --data-dir DIR] [-o table|json] <command>

Answers print as tables (lists) or field/value lines (objects); -o json prints the API's JSON.
Settings documents (settings get, accounts settings) always print as JSON, ready to edit and set.

  whoami
  accounts list
  accounts create NAME [--role user|admin] [--parent ID]
  accounts funds ID [--balance X] [--coupon X] [--credit X] [--quota N]   (amounts in currency units, may be negative)
  accounts prices ID [--cpu X] [--gpu X]   (render price of a CPU / GPU node-hour; 0 = free; no flag shows the
                              account's render settings)
  accounts settings ID NAME [FILE]   (a facade's settings of the account, e.g. render; with FILE, the fields
                              it holds are changed; - reads standard input)
  accounts limits ID [--units-per-job N] [--jobs-in-flight N]   (shows the account's limits, or sets
                              them; -1 goes back to the server's default)
  tokens create ACCOUNT_ID --kind admin|agent
  keys create ACCOUNT_ID --kind render|rpa|recording|kms [--name USER]   (a dialect's credential: render
                              accessId/accessKey, RPA administrator accessKey/secretKey, recording
                              app_id/secret, project service x-kms-user token)
  recording token APP_ID SECRET [--ttl 1h] [--nonce N]   (a cloud recording token, minted locally)
  jobs list [--status S,S] [--kind K] [--search Q] [--account ID] [--limit N] [--offset N]
  jobs get ID | units ID | events ID | blocklist ID
  jobs submit FILE            (a JSON job spec; - reads standard input)
  jobs pause|resume|abort|restart-failed|delete ID
  jobs priority ID N | limit ID N | unblock ID [--worker ID]
  workers list | drain ID | undrain ID   (a drained worker leases no new units; those it runs finish)
  schedules list | create FILE | delete ID
  projects help               (template projects, renders, service tokens of the project service)
  aitasks ...                 (the AI task center: users, keys, top-ups, channels, prices; admin aitasks help)
  settings get NAME | set NAME FILE   (a document kept whole, e.g. render-catalog: the render software,
                              versions, plugins and analysis error codes; - reads standard input)

The token defaults to the admin token in DIR/credentials.json, written on the server's first start.
`

// adminClient calls the native API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func adminCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, adminUsage) }
	server := fs.String("server", envOr("TASKCENTER_SERVER", ""), "server URL (default: the one in credentials.json, else http://127.0.0.1:8080)")
	token := fs.String("token", envOr("TASKCENTER_TOKEN", ""), "admin token")
	dataDir := fs.String("data-dir", envOr("TASKCENTER_DATA_DIR", "taskcenter-data"), "server data directory to read credentials.json from")
	format := fs.String("o", "table", "output: table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if a := fs.Args(); len(a) >= 2 && a[0] == "recording" && a[1] == "token" { // minted offline: no server, no admin token
		tok, err := recordingToken(a[2:])
		if err == nil {
			_, err = out.Write(tok)
		}
		return err
	}
	c := adminClient{base: *server, token: *token, http: &http.Client{Timeout: time.Minute}}
	if c.token == "" || c.base == "" {
		creds, err := app.ReadCredentials(*dataDir)
		if err != nil && c.token == "" {
			return fmt.Errorf("no --token given and %w", err)
		}
		if c.token == "" {
			c.token = creds.AdminToken
		}
		if c.base == "" {
			c.base = creds.ServerURL
		}
	}
	if c.base == "" {
		c.base = "http://127.0.0.1:8080"
	}
	c.base = strings.TrimRight(c.base, "/")
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(out, adminUsage)
		return nil
	}
	res, err := c.run(ctx, rest)
	if err != nil {
		return err
	}
	if len(res) > 0 {
		// A settings document is printed as JSON whatever -o says: it is read to be edited and set again.
		if len(rest) > 1 && (rest[0] == "settings" && rest[1] == "get" || rest[0] == "accounts" && rest[1] == "settings") {
			*format = "json"
		}
		return printAnswer(out, res, *format)
	}
	return nil
}

func (c adminClient) run(ctx context.Context, a []string) ([]byte, error) {
	arg := func(i int) string {
		if i < len(a) {
			return a[i]
		}
		return ""
	}
	id := func(i int) (string, error) {
		if _, err := strconv.ParseInt(arg(i), 10, 64); err != nil {
			return "", fmt.Errorf("%s %s: want a numeric id, got %q", arg(0), arg(1), arg(i))
		}
		return arg(i), nil
	}
	if arg(0) == "projects" {
		return c.projects(ctx, a[1:])
	}
	if arg(0) == "aitasks" {
		return c.aitasks(ctx, a[1:])
	}
	switch arg(0) + " " + arg(1) {
	case "whoami ":
		return c.do(ctx, "GET", "/api/v1/whoami", nil)
	case "accounts list":
		return c.do(ctx, "GET", "/api/v1/accounts", nil)
	case "accounts create":
		fs := flag.NewFlagSet("accounts create", flag.ContinueOnError)
		role := fs.String("role", "user", "user or admin")
		parent := fs.Int64("parent", 0, "main account id, for a sub-account")
		name := arg(2)
		if err := fs.Parse(a[min(3, len(a)):]); err != nil {
			return nil, err
		}
		if name == "" || strings.HasPrefix(name, "-") {
			return nil, errors.New("accounts create: NAME is required before the flags")
		}
		return c.do(ctx, "POST", "/api/v1/accounts", map[string]any{"name": name, "role": *role, "parent_id": *parent})
	case "accounts funds":
		acct, err := id(2)
		if err != nil {
			return nil, err
		}
		fs := flag.NewFlagSet("accounts funds", flag.ContinueOnError)
		bal := fs.Float64("balance", 0, "balance change")
		coupon := fs.Float64("coupon", 0, "coupon change")
		credit := fs.Float64("credit", 0, "credit change")
		quota := fs.Int64("quota", 0, "quota change")
		if err := fs.Parse(a[3:]); err != nil {
			return nil, err
		}
		milli := func(v float64) int64 { return int64(math.Round(v * 1000)) }
		return c.do(ctx, "POST", "/api/v1/accounts/"+acct+"/funds", map[string]any{
			"balance_milli": milli(*bal), "coupon_milli": milli(*coupon), "credit_milli": milli(*credit), "quota": *quota})
	case "accounts prices":
		acct, err := id(2)
		if err != nil {
			return nil, err
		}
		fs := flag.NewFlagSet("accounts prices", flag.ContinueOnError)
		fs.Float64("cpu", 0, "price of a CPU node-hour")
		fs.Float64("gpu", 0, "price of a GPU node-hour")
		if err := fs.Parse(a[3:]); err != nil {
			return nil, err
		}
		path := "/api/v1/accounts/" + acct + "/settings/render"
		patch := map[string]any{}
		var bad error
		fs.Visit(func(f *flag.Flag) {
			v, err := strconv.ParseFloat(f.Value.String(), 64)
			if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				bad = fmt.Errorf("accounts prices: --%s must be a price of 0 or more, got %q", f.Name, f.Value.String())
			}
			patch[map[string]string{"cpu": "cpuPrice", "gpu": "gpuPrice"}[f.Name]] = v
		})
		if bad != nil {
			return nil, bad
		}
		if len(patch) == 0 {
			return c.do(ctx, "GET", path, nil)
		}
		return c.do(ctx, "PATCH", path, patch)
	case "accounts settings":
		acct, err := id(2)
		if err != nil {
			return nil, err
		}
		if arg(3) == "" {
			return nil, errors.New("accounts settings: NAME is required (e.g. render)")
		}
		path := "/api/v1/accounts/" + acct + "/settings/" + url.PathEscape(arg(3))
		if arg(4) == "" {
			return c.do(ctx, "GET", path, nil)
		}
		b, err := readArgFile(arg(4))
		if err != nil {
			return nil, fmt.Errorf("read settings %s: %w", arg(3), err)
		}
		return c.do(ctx, "PATCH", path, json.RawMessage(b))
	case "accounts limits":
		acct, err := id(2)
		if err != nil {
			return nil, err
		}
		fs := flag.NewFlagSet("accounts limits", flag.ContinueOnError)
		units := fs.Int("units-per-job", 0, "units one job may have (a work queue: unfinished items)")
		jobs := fs.Int("jobs-in-flight", 0, "unfinished jobs the account may have")
		if err := fs.Parse(a[3:]); err != nil {
			return nil, err
		}
		if *units == 0 && *jobs == 0 {
			return c.do(ctx, "GET", "/api/v1/accounts/"+acct+"/limits", nil)
		}
		return c.do(ctx, "PATCH", "/api/v1/accounts/"+acct+"/limits", map[string]any{"units_per_job": *units, "jobs_in_flight": *jobs})
	case "tokens create":
		acct, err := id(2)
		if err != nil {
			return nil, err
		}
		fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
		kind := fs.String("kind", "agent", "admin or agent")
		if err := fs.Parse(a[3:]); err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", "/api/v1/accounts/"+acct+"/tokens", map[string]any{"kind": *kind})
	case "keys create":
		acct, err := id(2)
		if err != nil {
			return nil, err
		}
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		kind := fs.String("kind", "render", "render, rpa, recording or kms")
		name := fs.String("name", "", "user name (rpa: default admin; kms: the x-kms-user)")
		if err := fs.Parse(a[3:]); err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", "/api/v1/accounts/"+acct+"/keys", map[string]any{"kind": *kind, "name": *name})
	case "jobs list":
		fs := flag.NewFlagSet("jobs list", flag.ContinueOnError)
		status := fs.String("status", "", "statuses, comma-separated")
		kind := fs.String("kind", "", "job kind")
		search := fs.String("search", "", "text in name, alias or project")
		account := fs.String("account", "", "account id")
		limit := fs.String("limit", "50", "jobs per page")
		offset := fs.String("offset", "0", "jobs to skip")
		if err := fs.Parse(a[2:]); err != nil {
			return nil, err
		}
		q := url.Values{"status": {*status}, "kind": {*kind}, "search": {*search}, "limit": {*limit}, "offset": {*offset}}
		if *account != "" {
			q.Set("account_id", *account)
		}
		return c.do(ctx, "GET", "/api/v1/jobs?"+q.Encode(), nil)
	case "jobs get", "jobs units", "jobs events", "jobs blocklist":
		job, err := id(2)
		if err != nil {
			return nil, err
		}
		path := "/api/v1/jobs/" + job
		if arg(1) != "get" {
			path += "/" + arg(1)
		}
		return c.do(ctx, "GET", path, nil)
	case "jobs submit":
		b, err := readArgFile(arg(2))
		if err != nil {
			return nil, fmt.Errorf("read job spec: %w", err)
		}
		return c.do(ctx, "POST", "/api/v1/jobs", json.RawMessage(b))
	case "jobs pause", "jobs resume", "jobs abort", "jobs restart-failed":
		job, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", "/api/v1/jobs/"+job+"/"+arg(1), nil)
	case "jobs delete":
		job, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "DELETE", "/api/v1/jobs/"+job, nil)
	case "jobs priority", "jobs limit":
		job, err := id(2)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(arg(3))
		if err != nil {
			return nil, fmt.Errorf("jobs %s: want a number, got %q", arg(1), arg(3))
		}
		field := map[string]string{"priority": "priority", "limit": "max_concurrency"}[arg(1)]
		return c.do(ctx, "PATCH", "/api/v1/jobs/"+job, map[string]int{field: n})
	case "jobs unblock":
		job, err := id(2)
		if err != nil {
			return nil, err
		}
		fs := flag.NewFlagSet("jobs unblock", flag.ContinueOnError)
		worker := fs.Int64("worker", 0, "worker id (default: every worker)")
		if err := fs.Parse(a[3:]); err != nil {
			return nil, err
		}
		return c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/jobs/%s/blocklist?worker=%d", job, *worker), nil)
	case "workers list":
		return c.do(ctx, "GET", "/api/v1/workers", nil)
	case "workers drain", "workers undrain":
		worker, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "POST", "/api/v1/workers/"+worker+"/"+arg(1), nil)
	case "schedules list":
		return c.do(ctx, "GET", "/api/v1/schedules", nil)
	case "schedules create":
		b, err := os.ReadFile(arg(2))
		if err != nil {
			return nil, fmt.Errorf("read schedule: %w", err)
		}
		return c.do(ctx, "POST", "/api/v1/schedules", json.RawMessage(b))
	case "settings get":
		return c.do(ctx, "GET", "/api/v1/settings/"+url.PathEscape(arg(2)), nil)
	case "settings set":
		b, err := readArgFile(arg(3))
		if err != nil {
			return nil, fmt.Errorf("read setting %s: %w", arg(2), err)
		}
		return c.do(ctx, "PUT", "/api/v1/settings/"+url.PathEscape(arg(2)), json.RawMessage(b))
	case "schedules delete":
		sid, err := id(2)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, "DELETE", "/api/v1/schedules/"+sid, nil)
	}
	return nil, fmt.Errorf("unknown admin command %q; see 'taskcenter admin help'", strings.TrimSpace(arg(0)+" "+arg(1)))
}

// readArgFile reads a file named on the command line; "-" reads standard input.
func readArgFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

func (c adminClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s %s: %s (HTTP %d)", method, path, e.Error, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return b, nil
}
