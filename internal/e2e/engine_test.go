package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// TestAgentKilledMidUnit: two agents share a job; one is killed (SIGKILL) while running a unit; the unit
// is leased again once its lease expires, and the job completes with every unit done exactly once. A
// report with the dead lease's epoch is then refused.
func TestAgentKilledMidUnit(t *testing.T) {
	bin := binary(t)
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStack(t, d.Open(t), engine.Config{LeaseFor: 3 * time.Second, Heartbeat: time.Second, SweepEvery: 200 * time.Millisecond, RetryBase: 100 * time.Millisecond}, nil)
			const n = 12
			marks := t.TempDir()
			job := s.submit(t, "shell", n, func(i int) string {
				return fmt.Sprintf(`{"command":["sh","-c","sleep 0.7; echo {{unit_id}} >> %s/ran"]}`, marks)
			}, nil)

			// Agent A is a separate process, so that it can be killed outright.
			victim := exec.Command(bin, "agent", "--server", s.srv.URL, "--token", s.creds.AgentToken, "--name", "victim",
				"--work-dir", t.TempDir(), "--slots", "1", "--log-level", "warn")
			victim.Stderr = os.Stderr
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })

			// Wait until the victim runs a unit, then kill it mid-unit.
			var held store.Unit
			testutil.Eventually(t, 60*time.Second, func() error {
				units, _, err := s.st.ListUnits(ctx, store.UnitFilter{JobID: job.ID, Statuses: []store.UnitStatus{store.UnitRunning}})
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range units {
					if w, err := s.st.GetWorker(ctx, u.WorkerID); err == nil && w.Name == "victim" {
						held = u
						return nil
					}
				}
				return errors.New("the victim agent never leased a unit")
			})
			if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			victim.Wait()

			// Agent B, in this process, finishes the job, including the dead agent's unit.
			actx, stop := context.WithCancel(ctx)
			defer stop()
			go agent.Run(actx, agent.Config{ServerURL: s.srv.URL, Token: s.creds.AgentToken, Name: "survivor",
				WorkDir: t.TempDir(), Executors: executor.Defaults(), LeaseWaitSeconds: 1}, quietLogger(t))

			j := waitJob(t, s.st, job.ID, 90*time.Second)
			if j.Status != store.JobSucceeded {
				t.Fatalf("job ended %s, want succeeded", j.Status)
			}
			u, err := s.st.GetUnit(ctx, held.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u.Status != store.UnitDone || u.Epoch <= held.Epoch {
				t.Fatalf("the killed agent's unit: status %s epoch %d (was %d); want done under a newer lease", u.Status, u.Epoch, held.Epoch)
			}
			if w, _ := s.st.GetWorker(ctx, u.WorkerID); w.Name == "victim" {
				t.Fatal("the unit was completed by the killed agent")
			}
			if got := s.counter(t, "taskcenter_units_completed_total"); got != n {
				t.Fatalf("completions accepted = %v, want exactly %d", got, n)
			}
			evs, _ := s.st.ListEvents(ctx, store.EventFilter{JobID: job.ID, Limit: 1000})
			expired := false
			for _, e := range evs {
				expired = expired || (e.Type == "unit.lease_expired" && e.UnitID == held.ID)
			}
			if !expired {
				t.Fatal("no lease_expired event for the killed agent's unit")
			}

			// The dead lease's epoch is refused: 409 over the protocol.
			late := registerWorker(t, s.srv.URL, s.creds.AgentToken, "late", []string{"shell"})
			_, err = late.c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: agentapi.UnitRef{UnitID: held.ID, Epoch: held.Epoch}}}})
			if !agent.IsStale(err) {
				t.Fatalf("completion with a stale epoch: err = %v, want 409", err)
			}
			err = late.c.Progress(ctx, agentapi.ProgressRequest{UnitRef: agentapi.UnitRef{UnitID: held.ID, Epoch: held.Epoch}, Progress: 50})
			if !agent.IsStale(err) {
				t.Fatalf("progress with a stale epoch: err = %v, want 409", err)
			}
		})
	}
}

// TestServerKilledMidRun: the server is killed (SIGKILL) in the middle of a 1,000-unit run and restarted;
// workers keep their unacknowledged reports and send them again. No unit is lost and none is
// acknowledged as completed twice.
func TestServerKilledMidRun(t *testing.T) {
	bin := binary(t)
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			dataDir := t.TempDir()
			dbURL := ""
			if d == "postgres" {
				dbURL = pgSchemaURL(t)
			}
			addr := freeAddr(t)
			start := func() *exec.Cmd {
				cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", dataDir, "--database-url", dbURL,
					"--lease-for", "5s", "--log-level", "warn")
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				waitHTTP(t, "http://"+addr+"/readyz")
				return cmd
			}
			srv := start()
			t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
			base := "http://" + addr
			creds := readCreds(t, dataDir)
			admin := newAdminClient(base, creds.AdminToken)

			const n = 1000
			units := make([]engine.UnitSpec, n)
			for i := range units {
				units[i] = engine.UnitSpec{Capability: "crash"}
			}
			var job struct{ ID int64 }
			admin.mustDo(t, "POST", "/api/v1/jobs", engine.JobSpec{Kind: "test", Units: units}, &job)

			ledger := newAckLedger()
			var completed atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			for i := range 4 {
				w := registerWorker(t, base, creds.AgentToken, fmt.Sprintf("crash-%d", i), []string{"crash"})
				wg.Add(1)
				go func() {
					defer wg.Done()
					runCrashWorker(ctx, w, ledger, &completed)
				}()
			}
			// Kill the server a third of the way in, then start it again on the same address and data.
			testutil.Eventually(t, 2*time.Minute, func() error {
				if at := completed.Load(); at < n/3 {
					return fmt.Errorf("%d of %d units acknowledged", at, n)
				}
				return nil
			})
			srv.Process.Signal(syscall.SIGKILL)
			srv.Wait()
			if at := completed.Load(); at >= n {
				t.Fatalf("the server was killed after the run ended (%d acknowledged)", at)
			}
			srv = start()

			testutil.Eventually(t, 2*time.Minute, func() error {
				var j struct {
					Status string
					Units  map[string]int
				}
				admin.mustDo(t, "GET", fmt.Sprintf("/api/v1/jobs/%d", job.ID), nil, &j)
				if j.Status == string(store.JobSucceeded) && j.Units["done"] == n {
					return nil
				}
				return fmt.Errorf("job %s with units %v after restart; want all %d done", j.Status, j.Units, n)
			})
			cancel()
			wg.Wait()
			if twice := ledger.twice(); len(twice) > 0 {
				t.Fatalf("units acknowledged as completed twice: %v", twice)
			}
		})
	}
}

// runCrashWorker leases and completes units until ctx ends, keeping reports the server did not
// acknowledge and sending them again, as the agent's outbox does.
func runCrashWorker(ctx context.Context, w *protoWorker, ledger *ackLedger, completed *atomic.Int64) {
	var pending []agentapi.Completion
	for ctx.Err() == nil {
		if len(pending) > 0 {
			res, err := w.c.Complete(ctx, agentapi.CompleteRequest{Units: pending})
			if err != nil && !agent.IsStale(err) {
				time.Sleep(50 * time.Millisecond) // the server is down: keep the reports
				continue
			}
			if err == nil {
				ledger.add(res)
				for _, r := range res.Results {
					if r.Status == "ok" {
						completed.Add(1)
					}
				}
			}
			pending = nil
		}
		lr, err := w.c.Lease(ctx, agentapi.LeaseRequest{Max: 10, WaitSeconds: 1})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, u := range lr.Units {
			pending = append(pending, agentapi.Completion{UnitRef: agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}})
		}
	}
}

func readCreds(t testing.TB, dataDir string) (c struct{ AdminToken, AgentToken string }) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		AdminToken string `json:"admin_token"`
		AgentToken string `json:"agent_token"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	c.AdminToken, c.AgentToken = raw.AdminToken, raw.AgentToken
	return c
}

// TestReplicasShareOnePostgres: two server replicas on one PostgreSQL database, with workers spread over
// both, complete 2,000 units; no unit is ever held by two workers at once, and only one replica leads.
func TestReplicasShareOnePostgres(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	openPG := func() store.Store {
		st, err := openPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	cfg := engine.Config{SweepEvery: 100 * time.Millisecond, LeaderTTL: 2 * time.Second}
	a := startStack(t, openPG(), cfg, nil)
	b := startStack(t, openPG(), cfg, &a.creds)

	const n = 2000
	job := a.submit(t, "replica", n, nil, nil)

	var mu sync.Mutex
	holder := map[int64]string{}
	var doubles, bothLead, oneLeads atomic.Int64
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // watch leadership while the job runs
		for wctx.Err() == nil {
			la, lb := a.eng.IsLeader(), b.eng.IsLeader()
			if la && lb {
				bothLead.Add(1)
			}
			if la != lb {
				oneLeads.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for i := range 6 {
		base := a.srv.URL
		if i%2 == 1 {
			base = b.srv.URL
		}
		name := fmt.Sprintf("replica-worker-%d", i)
		w := registerWorker(t, base, a.creds.AgentToken, name, []string{"replica"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wctx.Err() == nil {
				lr, err := w.c.Lease(wctx, agentapi.LeaseRequest{Max: 25, WaitSeconds: 1})
				if err != nil {
					if wctx.Err() == nil {
						t.Errorf("%s lease: %v", name, err)
					}
					return
				}
				var cs []agentapi.Completion
				mu.Lock()
				for _, u := range lr.Units {
					if other, held := holder[u.UnitID]; held {
						t.Errorf("unit %d leased to %s while %s holds it", u.UnitID, name, other)
						doubles.Add(1)
					}
					holder[u.UnitID] = name
					cs = append(cs, agentapi.Completion{UnitRef: agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}})
				}
				mu.Unlock()
				if len(cs) == 0 {
					continue
				}
				_, err = w.c.Complete(wctx, agentapi.CompleteRequest{Units: cs})
				if err != nil && !errors.Is(err, context.Canceled) && wctx.Err() == nil {
					t.Errorf("%s complete: %v", name, err)
					return
				}
				// Once the server has the report the unit is done and cannot be leased again.
				mu.Lock()
				for _, c := range cs {
					delete(holder, c.UnitID)
				}
				mu.Unlock()
			}
		}()
	}
	j := waitJob(t, a.st, job.ID, 2*time.Minute)
	cancel()
	wg.Wait()
	if j.Status != store.JobSucceeded {
		t.Fatalf("job ended %s", j.Status)
	}
	counts, _ := a.st.UnitCounts(ctx, []int64{job.ID})
	if counts[job.ID][store.UnitDone] != n {
		t.Fatalf("done units = %d, want %d", counts[job.ID][store.UnitDone], n)
	}
	if doubles.Load() > 0 || bothLead.Load() > 0 {
		t.Fatalf("units leased twice at once: %d; samples with two leaders: %d", doubles.Load(), bothLead.Load())
	}
	if oneLeads.Load() == 0 {
		t.Fatal("no replica ever led")
	}
	total := a.counter(t, "taskcenter_units_completed_total") + b.counter(t, "taskcenter_units_completed_total")
	if total != n {
		t.Fatalf("completions accepted across replicas = %v, want %d", total, n)
	}
}

// TestWorkerCannotReportAnothersUnit: a worker that knows another's unit id and epoch still cannot
// report on it, over any of the protocol's report calls; the holder's own reports go through.
func TestWorkerCannotReportAnothersUnit(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStack(t, d.Open(t), engine.Config{}, nil)
			job := s.submit(t, "shell", 1, func(int) string { return `{"command":["true"]}` }, nil)
			holder := registerWorker(t, s.srv.URL, s.creds.AgentToken, "holder", []string{"shell"})
			thief := registerWorker(t, s.srv.URL, s.creds.AgentToken, "thief", []string{"shell"})
			res, err := holder.c.Lease(ctx, agentapi.LeaseRequest{Max: 1})
			if err != nil || len(res.Units) != 1 {
				t.Fatalf("lease: %v, %d units", err, len(res.Units))
			}
			ref := agentapi.UnitRef{UnitID: res.Units[0].UnitID, Epoch: res.Units[0].Epoch}

			reports := []struct {
				name string
				call func() error
			}{
				{"progress", func() error { return thief.c.Progress(ctx, agentapi.ProgressRequest{UnitRef: ref, Progress: 99}) }},
				{"fail", func() error {
					return thief.c.Fail(ctx, agentapi.FailRequest{UnitRef: ref, Error: "sabotage", Permanent: true})
				}},
				{"upload", func() error {
					_, err := thief.c.Upload(ctx, ref, "out.txt", strings.NewReader("forged"), 6)
					return err
				}},
				{"complete", func() error { // a batch of one answers 409 as a whole
					_, err := thief.c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: ref}}})
					return err
				}},
			}
			for _, r := range reports {
				if err := r.call(); !agent.IsStale(err) {
					t.Errorf("%s by another worker: err = %v, want 409", r.name, err)
				}
			}
			u, err := s.st.GetUnit(ctx, ref.UnitID)
			if err != nil {
				t.Fatal(err)
			}
			if u.Status != store.UnitRunning || u.WorkerID != holder.id || u.Progress != 0 || len(u.Outputs) > 2 {
				t.Fatalf("after the other worker's reports: status %s worker %d progress %v outputs %s", u.Status, u.WorkerID, u.Progress, u.Outputs)
			}
			if err := holder.c.Progress(ctx, agentapi.ProgressRequest{UnitRef: ref, Progress: 50}); err != nil {
				t.Fatalf("the holder's progress: %v", err)
			}
			done, err := holder.c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: ref}}})
			if err != nil || done.Results[0].Status != "ok" {
				t.Fatalf("the holder's completion: %+v %v", done, err)
			}
			if j := waitJob(t, s.st, job.ID, 10*time.Second); j.Status != store.JobSucceeded {
				t.Fatalf("job ended %s", j.Status)
			}
		})
	}
}
