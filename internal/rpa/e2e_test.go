package rpa

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// live is a whole server over loopback HTTP (agent protocol and OAPI on one listener) with its
// engine running (sweeps, schedules), a bootstrapped tenant and a logged-in administrator.
type live struct {
	t       *testing.T
	st      store.Store
	eng     *engine.Engine
	url     string
	account int64
	admin   *Client
	ctx     context.Context
}

func newLive(t *testing.T, st store.Store) *live {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Config{Heartbeat: time.Second, SweepEvery: 100 * time.Millisecond, RetryBase: 200 * time.Millisecond,
		IdleRecheck: 500 * time.Millisecond, Holder: "e2e"}, log, nil)
	blobs, err := blob.NewLocal(t.TempDir())
	must(t, err)
	keys, err := auth.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	must(t, err)
	api, err := New(Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log, MaxUploadBytes: 1 << 20})
	must(t, err)
	srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log,
		Registry: prometheus.NewRegistry()}, api))
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
	})
	acct, err := st.CreateAccount(ctx, store.Account{Name: "acme", Role: store.RoleUser})
	must(t, err)
	_, err = api.Bootstrap(ctx, acct.ID, "admin", adminPassword)
	must(t, err)
	l := &live{t: t, st: st, eng: eng, url: srv.URL, account: acct.ID, ctx: ctx}
	l.admin = l.login("admin", adminPassword)
	return l
}

func (l *live) login(name, pw string) *Client {
	l.t.Helper()
	c := &Client{BaseURL: l.url}
	must(l.t, c.Login(l.ctx, name, pw))
	return c
}

// startRobot runs the real agent loop with the rpa executor as robot name, enrolled with a token of
// the tenant, until the test ends.
func (l *live) startRobot(name string) {
	l.t.Helper()
	token, _, err := auth.IssueToken(l.ctx, l.st, l.account, store.CredAgent, "robots", time.Now())
	must(l.t, err)
	info := executor.RobotInfo("test-1.0")
	info["machineCode"] = "mc-" + name
	cfg := agent.Config{
		ServerURL: l.url, Token: token, Name: name, Kind: "robot", Tags: []string{executor.RobotTagPrefix + name},
		WorkDir: l.t.TempDir(), Slots: 1, Info: info,
		Executors:  map[string]agent.Executor{CapabilityRobot: &executor.RPA{OAPIURL: l.url, Grace: time.Second}},
		BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, ProgressInterval: 200 * time.Millisecond, LeaseWaitSeconds: 5,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = agent.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) })
	l.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 90*time.Second, func() error {
		if !cond() {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	})
}

// pkgZip builds a process package: manifest.json plus the given files.
func pkgZip(t *testing.T, m Manifest, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("manifest.json")
	must(t, err)
	must(t, json.NewEncoder(w).Encode(m))
	for name, content := range files {
		w, err := zw.Create(name)
		must(t, err)
		_, err = w.Write([]byte(content))
		must(t, err)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

// oapiPy is the signing OAPI client processes use: the document's signature in Python.
const oapiPy = `import base64, hashlib, hmac, json, os, time, urllib.parse, urllib.request

BASE = os.environ["RPA_OAPI_URL"]
TOKEN = os.environ["RPA_TOKEN"]
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_last = [0]


def _enc(s):
    return "".join(chr(b) if b in SAFE else "%%%02X" % b for b in s.encode("utf-8"))


def _sign(source, ts):
    src = source + "&token=" + TOKEN + "&timestamp=" + ts
    digest = hmac.new(TOKEN.encode(), _enc(src).encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def call(method, path, params=None, body=None):
    ts = max(int(time.time() * 1000), _last[0] + 1)
    _last[0] = ts
    ts = str(ts)
    url, data = BASE + path, None
    if body is not None:
        data = json.dumps(body).encode()
        source = data.decode()
    else:
        params = params or {}
        source = "&".join(k + "=" + str(params[k]) for k in sorted(params))
        if params:
            url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("accesstoken", TOKEN)
    req.add_header("timestamp", ts)
    req.add_header("signature", _sign(source, ts))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        env = json.load(r)
    if env["code"] != 0:
        raise SystemExit("%s %s: code %s %s" % (method, path, env["code"], env["msg"]))
    return env.get("result")
`

// invoicePy pops every item of the queue, reads both assets, and marks even-numbered items success
// and odd ones failed.
const invoicePy = `import json, os, sys
from oapi import call

p = json.loads(os.environ.get("RPA_PARAMS") or "{}")
values = {}
for name in ("erp_url", "erp_pw"):
    for it in call("POST", "/oapi/v1/asset/list", body={"assetName": name})["items"]:
        if it["assetName"] == name:
            values[name] = it["assetValue"]
if values.get("erp_url") != p["url"] or values.get("erp_pw") != p["pw"]:
    sys.exit("assets read wrong: %r" % (values,))
ok = bad = 0
while True:
    item = call("GET", "/oapi/v1/queue/item/pop", params={"queueName": p["queue"]})
    if item is None:
        break
    keys = {k["key"]: k["value"] for k in item["keys"]}
    status = "success" if int(keys["n"]) % 2 == 0 else "failed"
    call("PUT", "/oapi/v1/queue/item", body={"queueName": p["queue"], "itemNo": item["itemNo"], "id": item["id"],
         "status": status, "result": "job " + os.environ["RPA_JOB_NO"]})
    ok, bad = ok + (status == "success"), bad + (status == "failed")
print("processed %d items: %d success, %d failed" % (ok + bad, ok, bad))
`

// ctlPy does what the schedule's parameters say: succeed, sleep (writing its pid), or fail once.
const ctlPy = `import json, os, sys, time

p = json.loads(os.environ.get("RPA_PARAMS") or "{}")
mode = p.get("mode", "ok")
if mode == "sleep":
    with open(p["pidfile"] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(p["pidfile"] + ".tmp", p["pidfile"])
    time.sleep(600)
elif mode == "failonce":
    if not os.path.exists(p["marker"]):
        open(p["marker"], "w").close()
        sys.exit("first run fails")
print("ctl %s done on attempt %s" % (mode, os.environ["RPA_ATTEMPT"]))
`

// alive reports whether pid is a running process (a zombie is not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		return len(f) > 0 && f[0] != "Z" && f[0] != "X"
	}
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

func TestEndToEndRobot(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for the process scripts")
	}
	if RobotTagPrefix != executor.RobotTagPrefix {
		t.Fatalf("facade and robot disagree on the robot tag: %q vs %q", RobotTagPrefix, executor.RobotTagPrefix)
	}
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			testEndToEndRobot(t, newLive(t, d.Open(t)))
		})
	}
}

func testEndToEndRobot(t *testing.T, l *live) {
	ctx := l.ctx
	admin := l.admin

	// A department and a developer in it.
	must(t, admin.SendForm(ctx, "POST", "/oapi/v1/orgDef/addOrg", url.Values{"curCode": {"fin"}, "curName": {"财务"}}, nil))
	var roles Page[map[string]any]
	must(t, admin.Get(ctx, "/oapi/v1/role/list", url.Values{"roleName": {"开发者"}}, &roles))
	if roles.Total != 1 {
		t.Fatalf("roles %+v", roles)
	}
	must(t, admin.Send(ctx, "POST", "/oapi/v1/user", map[string]any{"userName": "dev1", "roleId": roles.Items[0]["id"],
		"orgCode": "-001-fin-", "userPassword": "dev-pass-1"}, nil))
	dev := l.login("dev1", "dev-pass-1")

	// The developer publishes the invoice process, then releases it.
	var pub struct {
		ProcessID int64 `json:"processId"`
		VersionID int64 `json:"versionId"`
	}
	must(t, dev.Upload(ctx, "/oapi/v1/process/publish", url.Values{"verExplain": {"first"}}, "file", "invoice.ipkg",
		pkgZip(t, Manifest{ProcCode: "invoice", ProcName: "发票", Version: "1.0.0", Entry: "python3 main.py"},
			map[string]string{"main.py": invoicePy, "oapi.py": oapiPy}), &pub))
	must(t, dev.Send(ctx, "PUT", "/oapi/v1/process/version", map[string]any{"id": pub.VersionID, "workStatus": "release"}, nil))
	var ctlPub struct {
		ProcessID int64 `json:"processId"`
	}
	must(t, dev.Upload(ctx, "/oapi/v1/process/publish", url.Values{"workStatus": {"release"}}, "file", "ctl.ipkg",
		pkgZip(t, Manifest{ProcCode: "ctl", Version: "2.0", Entry: "python3 ctl.py"}, map[string]string{"ctl.py": ctlPy}), &ctlPub))

	// A queue of 50 items and an asset of each type.
	must(t, dev.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "invoices", "queueMaxItems": 0, "failTryTimes": 0, "timeOut": 10}, nil))
	for i := range 50 {
		must(t, dev.Send(ctx, "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "invoices", "priority": []string{"high", "normal", "low"}[i%3],
			"deadline": "2030-01-01 00:00:00", "keys": []map[string]string{{"key": "n", "value": strconv.Itoa(i)}}}, nil))
	}
	must(t, dev.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "erp_url", "assetType": "text", "assetValue": "https://erp.example"}, nil))
	must(t, dev.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "erp_pw", "assetType": "passwd", "assetValue": "pa55 wörd&="}, nil))

	// The robot registers; an administrator licenses it.
	l.startRobot("bot1")
	var robot map[string]any
	waitFor(t, "the robot to register", func() bool {
		var p Page[map[string]any]
		must(t, admin.Get(ctx, "/oapi/v1/robot", url.Values{"tx": {"bot1"}}, &p))
		if p.Total == 1 {
			robot = p.Items[0]
		}
		return robot != nil
	})
	if robot["agentDcode"] != "mc-bot1" || robot["agentVersion"] != "test-1.0" || robot["agentName"] == nil ||
		robot["agentOs"] == "" || robot["userName"] == nil || robot["dataStatus"] != "unbound" {
		t.Fatalf("registered robot %+v", robot)
	}
	must(t, admin.Send(ctx, "POST", "/oapi/v1/robot/licence", map[string]any{"id": robot["id"]}, nil))

	schedule := func(c *Client, fields map[string]any) int64 {
		t.Helper()
		var s struct{ ID int64 }
		must(t, c.Send(ctx, "POST", "/oapi/v1/schedule", fields, &s))
		return s.ID
	}
	jobs := func(processID int64) map[int64]map[string]any {
		t.Helper()
		var p Page[map[string]any]
		must(t, admin.Get(ctx, "/oapi/v1/job", url.Values{"id": {idString(processID)}, "size": {"100"}}, &p))
		out := map[int64]map[string]any{}
		for _, j := range p.Items {
			out[int64(j["ID"].(float64))] = j
		}
		return out
	}
	run := func(scheduleID int64) int64 {
		t.Helper()
		var j struct{ ID int64 }
		must(t, dev.Send(ctx, "POST", "/oapi/v1/job/create", map[string]any{"id": scheduleID}, &j))
		return j.ID
	}
	waitStatus := func(processID, jobID int64, want string) map[string]any {
		t.Helper()
		var j map[string]any
		waitFor(t, fmt.Sprintf("job %d to be %s", jobID, want), func() bool {
			j = jobs(processID)[jobID]
			return j != nil && j["STATUS"] == want
		})
		return j
	}

	// The invoice job, created from a schedule, runs on the robot: every item is handled.
	params, _ := json.Marshal(map[string]string{"queue": "invoices", "url": "https://erp.example", "pw": "pa55 wörd&="})
	invoiceSch := schedule(dev, map[string]any{"schName": "invoices nightly", "procCode": "invoice", "scheduleExpre": "0 0 2 * * ?",
		"execRobotsNo": "bot1", "schParam": string(params), "runningTimeout": 10})
	jobID := run(invoiceSch)
	j := waitStatus(pub.ProcessID, jobID, "success")
	if j["CURR_ROBOT_NO"] != "bot1" || j["RUN_TIMES"] != float64(1) || j["PRODUCE_TYPE"] != "手工运行" || j["ROBOT_END_TIME"] == nil {
		t.Fatalf("finished job %+v", j)
	}
	for status, want := range map[string]int{"success": 25, "failed": 25, "pending": 0, "running": 0} {
		var items Page[map[string]any]
		must(t, dev.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"invoices"}, "status": {status}, "size": {"100"}}, &items))
		if items.Total != want {
			t.Fatalf("%d items %s, want %d", items.Total, status, want)
		}
		for _, it := range items.Items {
			// Done and failed items both name the robot that reported them.
			if it["robotNo"] != "bot1" || it["result"] != "job "+idString(jobID) {
				t.Fatalf("item %+v", it)
			}
		}
	}
	for _, name := range []string{"erp_url", "erp_pw"} {
		var vlog Page[map[string]any]
		must(t, dev.Get(ctx, "/oapi/v1/asset/vlog", url.Values{"assetId": {name}, "action": {"read"}, "robotNo": {"bot1"}}, &vlog))
		if vlog.Total != 1 || vlog.Items[0]["vlogJobNo"] != idString(jobID) || vlog.Items[0]["vlogProcess"] != "invoice" {
			t.Fatalf("vlog of %s: %+v", name, vlog)
		}
	}
	units, _, err := l.st.ListUnits(ctx, store.UnitFilter{JobID: jobID})
	must(t, err)
	if !strings.Contains(units[0].Log, "processed 50 items: 25 success, 25 failed") {
		t.Fatalf("unit log:\n%s", units[0].Log)
	}

	// A cron schedule fires on its own.
	cronSch := schedule(dev, map[string]any{"schName": "every 2s", "procCode": "ctl", "scheduleExpre": "0/2 * * * * ?", "execRobotsNo": "-all-"})
	waitFor(t, "a scheduled run to succeed", func() bool {
		for _, j := range jobs(ctlPub.ProcessID) {
			if j["PRODUCE_TYPE"] == "任务调度" && j["STATUS"] == "success" && j["SCHEDULE_ID"] == float64(cronSch) {
				return true
			}
		}
		return false
	})
	must(t, dev.Send(ctx, "PUT", "/oapi/v1/schedule/disable", map[string]any{"id": cronSch}, nil))

	// No robot free for it: the job ends pendout. Its deadline is set a minute after creation;
	// rather than wait the minute, the test brings the deadline forward and lets the sweep act.
	pendSch := schedule(dev, map[string]any{"schName": "ghost", "procCode": "ctl", "execRobotsNo": "ghost,bot9", "pendingTimeout": 1, "scheduleExpre": "0 0 3 * * ?"})
	pendJob := run(pendSch)
	pj, err := l.st.GetJob(ctx, pendJob)
	must(t, err)
	if pj.PendingDeadline == nil || !pj.PendingDeadline.Equal(pj.CreatedAt.Add(time.Minute)) {
		t.Fatalf("pending deadline %v for a job created %v", pj.PendingDeadline, pj.CreatedAt)
	}
	if st := jobs(ctlPub.ProcessID)[pendJob]["STATUS"]; st != "pending" {
		t.Fatalf("job for absent robots is %v", st)
	}
	_, err = l.st.PatchJob(ctx, pendJob, store.JobPatch{PendingDeadline: new(time.Now())}, time.Now())
	must(t, err)
	waitStatus(ctlPub.ProcessID, pendJob, "pendout")

	// stop ends a running process on the robot.
	dir := t.TempDir()
	sleepParams := func(name string) string {
		b, _ := json.Marshal(map[string]string{"mode": "sleep", "pidfile": filepath.Join(dir, name)})
		return string(b)
	}
	waitPid := func(name string) int {
		t.Helper()
		var pid int
		waitFor(t, "the process to start", func() bool {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				pid, err = strconv.Atoi(string(b))
				must(t, err)
			}
			return pid != 0
		})
		return pid
	}
	stopSch := schedule(dev, map[string]any{"schName": "stop me", "procCode": "ctl", "execRobotsNo": "-bot1-", "schParam": sleepParams("stop.pid"), "scheduleExpre": "0 0 3 * * ?"})
	stopJob := run(stopSch)
	pid := waitPid("stop.pid")
	waitStatus(ctlPub.ProcessID, stopJob, "running")
	must(t, dev.Send(ctx, "POST", "/oapi/v1/job/stop", map[string]any{"id": stopJob}, nil))
	waitStatus(ctlPub.ProcessID, stopJob, "stopped")
	waitFor(t, "the stopped process to end", func() bool { return !alive(pid) })

	// A job that runs too long ends runout and its process ends. Its limit is a minute; the test
	// shortens the job's unit limit to a second rather than wait the minute.
	runoutSch := schedule(dev, map[string]any{"schName": "too long", "procCode": "ctl", "execRobotsNo": "bot1", "schParam": sleepParams("runout.pid"),
		"runningTimeout": 1, "scheduleExpre": "0 0 3 * * ?"})
	runoutJob := run(runoutSch)
	pid = waitPid("runout.pid")
	rj, err := l.st.GetJob(ctx, runoutJob)
	must(t, err)
	if rj.UnitTimeout != time.Minute {
		t.Fatalf("unit time limit %v, want the schedule's minute", rj.UnitTimeout)
	}
	_, err = l.st.PatchJob(ctx, runoutJob, store.JobPatch{UnitTimeout: new(time.Second)}, time.Now())
	must(t, err)
	waitStatus(ctlPub.ProcessID, runoutJob, "runout")
	waitFor(t, "the timed-out process to end", func() bool { return !alive(pid) })

	// retry reruns a failed job: the process fails its first run and succeeds on the second.
	failParams, _ := json.Marshal(map[string]string{"mode": "failonce", "marker": filepath.Join(dir, "failed-once")})
	failSch := schedule(dev, map[string]any{"schName": "flaky", "procCode": "ctl", "execRobotsNo": "bot1", "schParam": string(failParams),
		"failTryTimes": 0, "scheduleExpre": "0 0 3 * * ?"})
	failJob := run(failSch)
	fj := waitStatus(ctlPub.ProcessID, failJob, "failed")
	if !strings.Contains(fmt.Sprint(fj["DESCRIPTION"]), "first run fails") {
		t.Fatalf("failed job description %v", fj["DESCRIPTION"])
	}
	must(t, dev.Send(ctx, "POST", "/oapi/v1/job/retry", map[string]any{"id": failJob}, nil))
	waitStatus(ctlPub.ProcessID, failJob, "success")
}
