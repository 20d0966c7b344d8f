package executor

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/unitspec"
)

// The spec and result of an rpa unit live in internal/unitspec, shared with the RPA facade.
type (
	RPASpec   = unitspec.RPA
	RPAResult = unitspec.RPAResult
)

// RPA runs published RPA processes on a robot. Before starting the process it trades the unit's
// job ticket for a job-scoped OAPI token, which the process finds in its environment with the OAPI
// base URL, so that it can read assets and work queues as this run:
//
//	RPA_OAPI_URL     base URL of the OAPI (requests go to $RPA_OAPI_URL/oapi/v1/...)
//	RPA_TOKEN        the job token: the accesstoken header, and the signing key
//	RPA_JOB_ID, RPA_JOB_NO, RPA_UNIT_ID, RPA_EPOCH, RPA_ATTEMPT
//	RPA_PROC_CODE, RPA_PROC_VER, RPA_PARAMS (the schedule's JSON parameters), RPA_PACKAGE_DIR
//
// plus the spec's env. Output goes to the unit log; exit code 0 is success, anything else a
// (retryable) failure. When the unit is stopped (the server no longer lists it at a heartbeat),
// timed out, or the agent shuts down, the process group gets SIGTERM, then SIGKILL after Grace.
type RPA struct {
	// OAPIURL is the server's base URL for the OAPI, e.g. http://tasks.example.com:8080.
	OAPIURL string
	// HTTP makes the token call; nil: a client with a 30-second timeout.
	HTTP *http.Client
	// Grace is how long a stopped process gets between SIGTERM and SIGKILL; default 5s.
	Grace time.Duration
	// MaxUnpacked bounds the unpacked size of a package; default 2 GiB.
	MaxUnpacked int64
}

// Run downloads and unpacks the package, obtains the job token and runs the entry command.
func (r *RPA) Run(ctx context.Context, u agentapi.Unit, env agent.Env) (agent.Result, error) {
	var spec RPASpec
	if err := decodeSpec(u.Spec, &spec); err != nil {
		return agent.Result{}, err
	}
	if spec.Package == "" || spec.Ticket == "" {
		return agent.Result{}, agent.Permanent(errors.New("rpa spec: package and ticket are required"))
	}
	if r.OAPIURL == "" {
		return agent.Result{}, agent.Permanent(errors.New("rpa: this robot has no OAPI URL configured"))
	}
	env.Progress(0, fmt.Sprintf("[robot] process %s %s: fetching package %s\n", spec.ProcCode, spec.ProcVer, spec.File))
	pkg, err := env.Input(ctx, spec.Package)
	if err != nil {
		return agent.Result{}, fmt.Errorf("download package %s: %w", spec.File, err)
	}
	dir := filepath.Join(env.Dir(), "package")
	if err := r.unpack(pkg, dir); err != nil {
		return agent.Result{}, agent.Permanent(fmt.Errorf("unpack package %s: %w", spec.File, err))
	}
	entry := spec.Entry
	if entry == "" {
		if entry, err = manifestEntry(dir); err != nil {
			return agent.Result{}, agent.Permanent(err)
		}
	}
	token, err := r.jobToken(ctx, spec.Ticket, u)
	if err != nil {
		return agent.Result{}, err
	}
	vars := map[string]string{}
	for k, v := range spec.Env {
		vars[k] = v
	}
	// The run's own context wins over the spec's env.
	for k, v := range map[string]string{
		"RPA_OAPI_URL": strings.TrimRight(r.OAPIURL, "/"), "RPA_TOKEN": token,
		"RPA_JOB_ID": strconv.FormatInt(u.JobID, 10), "RPA_JOB_NO": strconv.FormatInt(u.JobID, 10),
		"RPA_UNIT_ID": strconv.FormatInt(u.UnitID, 10), "RPA_EPOCH": strconv.FormatInt(u.Epoch, 10),
		"RPA_ATTEMPT": strconv.Itoa(u.Attempt), "RPA_PROC_CODE": spec.ProcCode, "RPA_PROC_VER": spec.ProcVer,
		"RPA_PARAMS": spec.Params, "RPA_PACKAGE_DIR": dir,
	} {
		vars[k] = v
	}
	grace := r.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	shell, flag := "/bin/sh", "-c"
	if runtime.GOOS == "windows" {
		shell, flag = "cmd", "/C"
	}
	cmd := command(ctx, grace, shell, flag, entry)
	cmd.Dir = dir
	cmd.Env = environ(vars)
	out := &logWriter{env: env}
	cmd.Stdout, cmd.Stderr = out, out
	env.Progress(-1, fmt.Sprintf("[robot] running %q\n", entry))
	err = run(cmd, env)
	if ctx.Err() != nil {
		return agent.Result{}, fmt.Errorf("process %s stopped: %w", spec.ProcCode, context.Cause(ctx))
	}
	if err != nil {
		var startErr *exec.Error
		if errors.As(err, &startErr) {
			return agent.Result{}, &agent.Failure{Err: fmt.Errorf("start %s: %w", shell, err), ExitCode: -1}
		}
		return agent.Result{}, exitFailure("process "+spec.ProcCode, err, out.Tail())
	}
	env.Progress(100, "[robot] process ended with exit code 0\n")
	return agent.Result{Data: RPAResult{ExitCode: 0, ProcCode: spec.ProcCode, ProcVer: spec.ProcVer}}, nil
}

// jobToken trades the ticket for a token scoped to this run (GET /oapi/v1/token?jobTicket=...). The
// token route is the only unsigned one. A refusal (the run was stopped meanwhile) is final for this
// attempt; a server that cannot be reached is worth a retry.
func (r *RPA) jobToken(ctx context.Context, ticket string, u agentapi.Unit) (string, error) {
	q := url.Values{"jobTicket": {ticket}, "unitId": {strconv.FormatInt(u.UnitID, 10)}, "epoch": {strconv.FormatInt(u.Epoch, 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.OAPIURL, "/")+"/oapi/v1/token?"+q.Encode(), nil)
	if err != nil {
		return "", agent.Permanent(fmt.Errorf("job token request: %w", err))
	}
	hc := r.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("job token: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Code   int    `json:"code"`
		Msg    string `json:"msg"`
		Result struct {
			AccessToken string `json:"access_token"`
		} `json:"result"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil {
		return "", fmt.Errorf("job token: HTTP %d: %w", resp.StatusCode, err)
	}
	if env.Code != 0 || env.Result.AccessToken == "" {
		return "", fmt.Errorf("job token refused: code %d: %s", env.Code, env.Msg)
	}
	return env.Result.AccessToken, nil
}

// unpack extracts the zip at path into dir, refusing entries that would land outside it, links,
// and more than MaxUnpacked bytes in all.
func (r *RPA) unpack(path, dir string) error {
	limit := r.MaxUnpacked
	if limit <= 0 {
		limit = 2 << 30
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("not a zip package: %w", err)
	}
	defer zr.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var total int64
	for _, f := range zr.File {
		name := filepath.FromSlash(strings.ReplaceAll(f.Name, `\`, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q leaves the package directory", f.Name)
		}
		target := filepath.Join(dir, name)
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			continue
		case !mode.IsRegular():
			return fmt.Errorf("entry %q is not a regular file", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		n, err := extractFile(f, target, limit-total)
		if err != nil {
			return fmt.Errorf("entry %q: %w", f.Name, err)
		}
		total += n
	}
	return nil
}

// extractFile writes one zip entry, keeping its executable bit, failing past max bytes.
func extractFile(f *zip.File, target string, max int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	perm := os.FileMode(0o600)
	if f.Mode()&0o111 != 0 {
		perm = 0o700
	}
	w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, io.LimitReader(rc, max+1))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = errors.New("the package unpacks to more than the robot allows")
	}
	return n, err
}

// manifestEntry reads the entry command from the unpacked package's manifest.json.
func manifestEntry(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return "", fmt.Errorf("package manifest: %w", err)
	}
	var m struct {
		Entry string `json:"entry"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Entry == "" {
		return "", errors.New("package manifest names no entry command")
	}
	return m.Entry, nil
}
