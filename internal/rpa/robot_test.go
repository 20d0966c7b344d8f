package rpa

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// ipkg builds a package with a manifest.
func ipkg(t *testing.T, m Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("manifest.json")
	must(t, err)
	must(t, json.NewEncoder(w).Encode(m))
	w, err = zw.Create("main.sh")
	must(t, err)
	_, err = w.Write([]byte("#!/bin/sh\necho hello\n"))
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

// robotEnv registers a robot, publishes and releases a process, and schedules it on that robot.
func robotEnv(t *testing.T, e *env) (w store.Worker, scheduleID, processID int64) {
	t.Helper()
	ctx := context.Background()
	w, err := e.eng.RegisterWorker(ctx, store.Worker{
		Name: "bot1", Kind: "robot", Capabilities: []string{CapabilityRobot}, Tags: []string{RobotTagPrefix + "bot1"},
		Info: json.RawMessage(`{"host":"WIN-BOT1","os":"Windows 10","ip":"10.0.0.5"}`),
	})
	must(t, err)
	var pub struct {
		ProcessID int64 `json:"processId"`
		VersionID int64 `json:"versionId"`
	}
	pkg := ipkg(t, Manifest{ProcCode: "invoice", ProcName: "发票", Version: "1.0.0", Entry: "sh main.sh"})
	must(t, e.admin.Upload(ctx, "/oapi/v1/process/publish", url.Values{"verExplain": {"first"}}, "file", "invoice.ipkg", pkg, &pub))
	// Only released versions run.
	wantCode(t, e.admin.Send(ctx, "POST", "/oapi/v1/schedule", map[string]any{
		"schName": "nightly", "procCode": "invoice", "scheduleExpre": "0 0 2 * * ?", "execRobotsNo": "bot1"}, nil), CodeStateConflict)
	must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/process/version", map[string]any{"id": pub.VersionID, "workStatus": "release"}, nil))
	var sch struct{ ID int64 }
	must(t, e.admin.Send(ctx, "POST", "/oapi/v1/schedule", map[string]any{
		"schName": "nightly", "procCode": "invoice", "scheduleExpre": "0 0 2 * * ?", "execRobotsNo": "bot1",
		"priority": 0, "failTryTimes": 1, "script": 2, "runningTimeout": 30,
	}, &sch))
	return w, sch.ID, pub.ProcessID
}

func TestAssetsAndJobs(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w, scheduleID, processID := robotEnv(t, e)

		// Assets: a global text value, a password with a global value and bot1's own.
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "url", "assetType": "text", "assetValue": "https://erp"}, nil))
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"agentName": "erp_pw", "assetType": "passwd", "assetValue": "global-pw", "robotsNo": "all"}, nil))
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "erp_pw", "assetType": "password", "assetValue": "bot1-pw", "robotNo": "bot1,bot2"}, nil))
		wantCode(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "erp_pw", "assetType": "passwd", "assetValue": "x", "robotNo": "bot2"}, nil), CodeExists)
		must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/asset", map[string]any{"assetName": "erp_pw", "assetValue": "bot1-pw2", "robotNo": "bot1"}, nil))
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/asset", map[string]any{"assetName": "erp_pw", "robotNo": "bot2"}, nil))

		var assets Page[map[string]any]
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset/list", map[string]any{"page": 1, "size": 10}, &assets))
		if assets.Total != 2 && assets.Total != 3 {
			t.Fatalf("assets: %+v", assets)
		}
		for _, a := range assets.Items {
			if a["assetType"] == "passwd" && a["assetValue"] != masked {
				t.Fatalf("a user saw a password in clear: %+v", a)
			}
		}

		// A manual run: the robot leases it, trades the ticket for a job token and reads its values.
		var created struct{ ID int64 }
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/job/create", map[string]any{"id": scheduleID}, &created))
		// Without a licence the robot is unbound and the engine gives it nothing.
		var robots Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/robot", url.Values{"tx": {"win-bot"}}, &robots))
		if robots.Total != 1 || robots.Items[0]["dataStatus"] != "unbound" {
			t.Fatalf("robots %+v", robots)
		}
		units, err := e.eng.Lease(ctx, w, 1, 0)
		must(t, err)
		if len(units) != 0 {
			t.Fatalf("an unlicensed robot leased %+v", units)
		}
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/robot/licence", map[string]any{"id": w.ID}, nil))
		units, err = e.eng.Lease(ctx, w, 1, 0)
		must(t, err)
		if len(units) != 1 || units[0].JobID != created.ID {
			t.Fatalf("robot leased %+v", units)
		}
		var spec JobUnitSpec
		must(t, json.Unmarshal(units[0].Spec, &spec))
		if spec.Entry != "sh main.sh" || spec.Package == "" {
			t.Fatalf("unit spec %+v", spec)
		}
		robot := e.client()
		wantCode(t, robot.JobLogin(ctx, "wrong", units[0].ID, units[0].Epoch), CodeJobTokenInvalid)
		must(t, robot.JobLogin(ctx, spec.Ticket, units[0].ID, units[0].Epoch))
		must(t, robot.Send(ctx, "POST", "/oapi/v1/asset/list", map[string]any{"assetName": "erp_pw"}, &assets))
		if assets.Total != 1 || assets.Items[0]["assetValue"] != "bot1-pw2" {
			t.Fatalf("robot read %+v", assets)
		}
		wantCode(t, robot.Get(ctx, "/oapi/v1/user", nil, nil), CodeForbidden)

		var vlog Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/asset/vlog", url.Values{"assetId": {"erp_pw"}, "action": {"read"}}, &vlog))
		if vlog.Total != 1 || vlog.Items[0]["vlogRobotNo"] != "bot1" || vlog.Items[0]["vlogProcess"] != "invoice" ||
			vlog.Items[0]["vlogJobNo"] != idString(created.ID) {
			t.Fatalf("vlog: %+v", vlog)
		}
		must(t, e.admin.Get(ctx, "/oapi/v1/asset/vlog", url.Values{"assetId": {"erp_pw"}}, &vlog))
		actions := map[any]int{}
		for _, v := range vlog.Items {
			actions[v["vlogAction"]]++
		}
		if actions["create"] != 3 || actions["edit"] != 1 || actions["read"] != 1 {
			t.Fatalf("vlog actions %v", actions)
		}

		// The job is running; when the robot finishes, its token dies and the job shows success.
		jobs := func() []map[string]any {
			var p Page[map[string]any]
			must(t, e.admin.Get(ctx, "/oapi/v1/job", url.Values{"id": {idString(processID)}}, &p))
			return p.Items
		}
		if st := jobs()[0]["STATUS"]; st != "running" {
			t.Fatalf("job status %v", st)
		}
		errs, err := e.eng.Complete(ctx, []engine.Completion{{UnitID: units[0].ID, Epoch: units[0].Epoch}})
		must(t, err)
		must(t, errs[0])
		wantCode(t, robot.Send(ctx, "POST", "/oapi/v1/asset/list", map[string]any{}, nil), CodeJobTokenInvalid)
		if j := jobs()[0]; j["STATUS"] != "success" || j["CURR_ROBOT_NO"] != "bot1" || j["PRODUCE_TYPE"] != "手工运行" {
			t.Fatalf("job after completion %+v", j)
		}
		wantCode(t, e.admin.Send(ctx, "POST", "/oapi/v1/job/retry", map[string]any{"id": created.ID}, nil), CodeStateConflict)

		// Stop a pending run: cancelled; retry brings it back to pending; delete hides it.
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/job/create", map[string]any{"id": scheduleID}, &created))
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/job/stop", map[string]any{"id": created.ID}, nil))
		if st := jobs()[0]["STATUS"]; st != "cancelled" {
			t.Fatalf("stopped pending job is %v", st)
		}
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/job/retry", map[string]any{"id": created.ID}, nil))
		if st := jobs()[0]["STATUS"]; st != "pending" {
			t.Fatalf("retried job is %v", st)
		}
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/job", map[string]any{"id": created.ID}, nil))
		if n := len(jobs()); n != 1 {
			t.Fatalf("%d jobs after delete", n)
		}

		// Schedules list, disable, enable; the workday switch shows in the engine's cron.
		var scheds Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/schedule/list", url.Values{"page": {"1"}, "size": {"10"}}, &scheds))
		if scheds.Total != 1 || scheds.Items[0]["status"] != float64(0) || scheds.Items[0]["nextExeTime"] == nil {
			t.Fatalf("schedules %+v", scheds)
		}
		s, err := e.st.GetSchedule(ctx, scheduleID)
		must(t, err)
		if s.Cron != "0 0 2 ? * MON-FRI" || s.NextRun.Weekday() == time.Saturday || s.NextRun.Weekday() == time.Sunday {
			t.Fatalf("engine schedule %q next %v", s.Cron, s.NextRun)
		}
		must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/schedule/disable", map[string]any{"id": scheduleID}, nil))
		must(t, e.admin.Get(ctx, "/oapi/v1/schedule/list", nil, &scheds))
		if scheds.Items[0]["status"] != float64(1) {
			t.Fatalf("disabled schedule: %+v", scheds.Items[0])
		}

		// Robots: list with search, alias, licence, detail.
		must(t, e.admin.Get(ctx, "/oapi/v1/robot", url.Values{"tx": {"win-bot"}}, &robots))
		if robots.Total != 1 || robots.Items[0]["dataStatus"] != "free" {
			t.Fatalf("robots %+v", robots)
		}
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/robot/licence", map[string]any{"id": w.ID, "licDateExpiry": "2099-01-01 00:00:00"}, nil))
		must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/robot", map[string]any{"id": idString(w.ID), "robotAlias": "财务机器人"}, nil))
		var detail map[string]any
		must(t, e.admin.Get(ctx, "/oapi/v1/robot/detail", url.Values{"id": {idString(w.ID)}}, &detail))
		if detail["agentAlias"] != "财务机器人" || detail["licStatus"] != float64(0) || detail["dataStatus"] != "free" {
			t.Fatalf("detail %+v", detail)
		}
		e.clock.offset = 3 * time.Minute
		must(t, e.admin.Get(ctx, "/oapi/v1/robot/detail", url.Values{"id": {idString(w.ID)}}, &detail))
		if detail["dataStatus"] != "offline" {
			t.Fatalf("no heartbeat for 3 minutes: %v", detail["dataStatus"])
		}
		e.clock.offset = 0
		must(t, e.admin.Get(ctx, "/oapi/v1/studio", nil, &robots))
		if robots.Total != 0 {
			t.Fatalf("studios: %+v", robots)
		}

		// Processes and versions; deleting the process takes its schedules.
		var procs, vers Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/process", url.Values{"procName": {"发"}}, &procs))
		if procs.Total != 1 || procs.Items[0]["workStatus"] != "release" || procs.Items[0]["procVer"] != "1.0.0" || procs.Items[0]["owberUser"] != "admin" {
			t.Fatalf("processes %+v", procs)
		}
		must(t, e.admin.Get(ctx, "/oapi/v1/process/version", url.Values{"proclid": {idString(processID)}}, &vers))
		if vers.Total != 1 || vers.Items[0]["procFile"] != "1.0.0_invoice.ipkg" {
			t.Fatalf("versions %+v", vers)
		}
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/process", map[string]any{"id": idString(processID)}, nil))
		must(t, e.admin.Get(ctx, "/oapi/v1/schedule/list", nil, &scheds))
		if scheds.Total != 0 {
			t.Fatalf("schedules after process delete: %+v", scheds)
		}
	})
}

// TestLicenceBoundToMachine issues a licence to a robot registered with one machine code: the same
// robot registering from another machine shows licStatus 2, is unbound and gets no jobs; back on its
// machine it works again.
func TestLicenceBoundToMachine(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		register := func(machine string) store.Worker {
			w, err := e.eng.RegisterWorker(ctx, store.Worker{
				Name: "bot9", Kind: "robot", Capabilities: []string{CapabilityRobot}, Tags: []string{RobotTagPrefix + "bot9"},
				Info: json.RawMessage(`{"host":"WIN-BOT9","machineCode":"` + machine + `"}`),
			})
			must(t, err)
			return w
		}
		w := register("MC-AAA")
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/robot/licence", map[string]any{"id": w.ID}, nil))
		job, err := e.eng.Submit(ctx, engine.JobSpec{AccountID: e.account, Kind: KindJob,
			Units: []engine.UnitSpec{{Capability: CapabilityRobot, Tag: RobotTagPrefix + "bot9"}}})
		must(t, err)
		for _, step := range []struct {
			machine   string
			licStatus float64
			status    string
			leases    int
		}{
			{"MC-BBB", 2, "unbound", 0},
			{"MC-AAA", 0, "free", 1},
		} {
			w = register(step.machine)
			var detail map[string]any
			must(t, e.admin.Get(ctx, "/oapi/v1/robot/detail", url.Values{"id": {idString(w.ID)}}, &detail))
			if detail["licStatus"] != step.licStatus || detail["dataStatus"] != step.status {
				t.Fatalf("on %s: licStatus %v, dataStatus %v; want %v, %s", step.machine, detail["licStatus"], detail["dataStatus"], step.licStatus, step.status)
			}
			units, err := e.eng.Lease(ctx, w, 1, 0)
			must(t, err)
			if len(units) != step.leases {
				t.Fatalf("on %s: leased %d units of job %d, want %d", step.machine, len(units), job.ID, step.leases)
			}
		}
	})
}
