package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// clock is an engine clock the test moves on.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tenant creates a user account and an enrollment token for its agents.
func (s *stack) tenant(t testing.TB, name string) (store.Account, string) {
	t.Helper()
	ctx := context.Background()
	a, err := s.st.CreateAccount(ctx, store.Account{Name: name, Role: store.RoleUser, CreatedAt: s.eng.Now(), UpdatedAt: s.eng.Now()})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := auth.IssueToken(ctx, s.st, a.ID, store.CredAgent, "agents of "+name, s.eng.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a, token
}

func (s *stack) submitFor(t testing.TB, accountID int64, n int) store.Job {
	t.Helper()
	return s.submit(t, "shell", n, func(int) string { return `{"command":["true"]}` }, func(js *engine.JobSpec) { js.AccountID = accountID })
}

func (s *stack) unit(t testing.TB, id int64) store.Unit {
	t.Helper()
	u, err := s.st.GetUnit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestWorkerNameBelongsToOneAccount: registering a name another account's worker (a tenant's or a
// shared admin worker) already has makes a worker of the registrant's own; the first worker keeps its
// units, its token and its account, and the newcomer can neither lease nor report on them.
func TestWorkerNameBelongsToOneAccount(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStack(t, d.Open(t), engine.Config{}, nil)
			acctA, tokenA := s.tenant(t, "tenant-a")
			_, tokenB := s.tenant(t, "tenant-b")
			admin := s.adminAccount(t)
			for _, tc := range []struct {
				name          string
				ownerAcct     int64
				owner, comer  string
				wantOwnerAcct int64
			}{
				{"tenant over tenant", acctA.ID, tokenA, tokenB, acctA.ID},
				{"tenant over shared worker", admin.ID, s.creds.AgentToken, tokenB, 0},
				// A shared worker may lease any account's queued units, but not one another worker holds.
				{"admin over tenant", acctA.ID, tokenA, s.creds.AgentToken, acctA.ID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					name := "host-" + fmt.Sprint(time.Now().UnixNano())
					job := s.submitFor(t, tc.ownerAcct, 1)
					owner := registerWorker(t, s.srv.URL, tc.owner, name, []string{"shell"})
					res, err := owner.c.Lease(ctx, agentapi.LeaseRequest{Max: 1})
					if err != nil || len(res.Units) != 1 {
						t.Fatalf("owner's lease: %v, %d units", err, len(res.Units))
					}
					ref := agentapi.UnitRef{UnitID: res.Units[0].UnitID, Epoch: res.Units[0].Epoch}

					comer := registerWorker(t, s.srv.URL, tc.comer, name, []string{"shell"})
					if comer.id == owner.id {
						t.Fatalf("the newcomer was handed worker %d, the owner's", owner.id)
					}
					w, err := s.st.GetWorker(ctx, owner.id)
					if err != nil || w.AccountID != tc.wantOwnerAcct {
						t.Fatalf("owner's worker now %+v, %v", w, err)
					}
					if _, err := comer.c.Heartbeat(ctx, agentapi.HeartbeatRequest{Running: []agentapi.UnitRef{ref}}); err != nil {
						t.Fatalf("newcomer's heartbeat: %v", err)
					}
					if u := s.unit(t, ref.UnitID); u.Status != store.UnitRunning || u.WorkerID != owner.id || u.Epoch != ref.Epoch {
						t.Fatalf("the owner's unit after the newcomer's registration: %+v", u)
					}
					if got, err := comer.c.Lease(ctx, agentapi.LeaseRequest{Max: 10}); err != nil || len(got.Units) != 0 {
						t.Fatalf("the newcomer leased %d units (%v)", len(got.Units), err)
					}
					_, err = comer.c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: ref, Result: []byte(`"forged"`)}}})
					if !agent.IsStale(err) {
						t.Fatalf("newcomer's completion of the owner's unit: err = %v, want 409", err)
					}
					// The owner's token still works and its report is taken.
					if _, err := owner.c.Heartbeat(ctx, agentapi.HeartbeatRequest{Running: []agentapi.UnitRef{ref}}); err != nil {
						t.Fatalf("owner's heartbeat: %v", err)
					}
					done, err := owner.c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: ref}}})
					if err != nil || done.Results[0].Status != "ok" {
						t.Fatalf("owner's completion: %+v %v", done, err)
					}
					if j := waitJob(t, s.st, job.ID, 10*time.Second); j.Status != store.JobSucceeded {
						t.Fatalf("job ended %s", j.Status)
					}
				})
			}
		})
	}
}

// TestRegistrationStartsAnIncarnation: registering a name again makes a new incarnation of the worker.
// The previous incarnation's token stops working; its units are requeued at once, except those the
// new registration lists as held (reports in the agent's outbox), whose reports are then taken.
func TestRegistrationStartsAnIncarnation(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStack(t, d.Open(t), engine.Config{LeaseFor: time.Hour}, nil)
			job := s.submit(t, "shell", 2, func(int) string { return `{"command":["true"]}` }, nil)
			first := registerWorker(t, s.srv.URL, s.creds.AgentToken, "phoenix", []string{"shell"})
			res, err := first.c.Lease(ctx, agentapi.LeaseRequest{Max: 2})
			if err != nil || len(res.Units) != 2 {
				t.Fatalf("lease: %v, %d units", err, len(res.Units))
			}
			finished := agentapi.UnitRef{UnitID: res.Units[0].UnitID, Epoch: res.Units[0].Epoch} // in the outbox
			lost := agentapi.UnitRef{UnitID: res.Units[1].UnitID, Epoch: res.Units[1].Epoch}     // died with the agent

			c := agent.NewClient(s.srv.URL, nil)
			reg, err := c.Register(ctx, s.creds.AgentToken, agentapi.RegisterRequest{Name: "phoenix", Kind: "test",
				Capabilities: []string{"shell"}, Held: []agentapi.UnitRef{finished}})
			if err != nil || reg.WorkerID != first.id {
				t.Fatalf("register again: %+v %v (first was worker %d)", reg, err, first.id)
			}
			c.SetToken(reg.WorkerToken)

			if _, err := first.c.Heartbeat(ctx, agentapi.HeartbeatRequest{}); !agent.IsUnauthorized(err) {
				t.Fatalf("the previous incarnation's heartbeat: err = %v, want 401", err)
			}
			if _, err := first.c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: finished}}}); !agent.IsUnauthorized(err) {
				t.Fatalf("the previous incarnation's completion: err = %v, want 401", err)
			}
			if u := s.unit(t, lost.UnitID); u.Status != store.UnitQueued || u.Epoch != lost.Epoch+1 || u.WorkerID != 0 {
				t.Fatalf("the unit the new incarnation does not hold: %+v", u)
			}
			if u := s.unit(t, finished.UnitID); u.Status != store.UnitRunning || u.Epoch != finished.Epoch {
				t.Fatalf("the unit the new incarnation holds a report for: %+v", u)
			}
			// The outbox's report of the previous incarnation is taken: the unit is not redone.
			done, err := c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: finished}}})
			if err != nil || done.Results[0].Status != "ok" {
				t.Fatalf("outbox completion: %+v %v", done, err)
			}
			again, err := c.Lease(ctx, agentapi.LeaseRequest{Max: 2})
			if err != nil || len(again.Units) != 1 || again.Units[0].UnitID != lost.UnitID {
				t.Fatalf("lease after registration: %+v %v", again, err)
			}
			if _, err := c.Complete(ctx, agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: agentapi.UnitRef{UnitID: lost.UnitID, Epoch: again.Units[0].Epoch}}}}); err != nil {
				t.Fatal(err)
			}
			if j := waitJob(t, s.st, job.ID, 10*time.Second); j.Status != store.JobSucceeded {
				t.Fatalf("job ended %s", j.Status)
			}
		})
	}
}

// TestHeartbeatHandsBackUnlistedUnits: a heartbeat extends only the units it lists. A unit the worker
// holds but does not list (its lease answer never arrived) is spared while it is fresh, then requeued
// by the first heartbeat after the grace, without waiting for the lease to expire.
func TestHeartbeatHandsBackUnlistedUnits(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			s := startStack(t, d.Open(t), engine.Config{LeaseFor: time.Hour, Heartbeat: 10 * time.Second, Now: clk.now}, nil)
			s.submit(t, "shell", 2, func(int) string { return `{"command":["true"]}` }, nil)
			w := registerWorker(t, s.srv.URL, s.creds.AgentToken, "node", []string{"shell"})
			res, err := w.c.Lease(ctx, agentapi.LeaseRequest{Max: 2})
			if err != nil || len(res.Units) != 2 {
				t.Fatalf("lease: %v, %d units", err, len(res.Units))
			}
			known := agentapi.UnitRef{UnitID: res.Units[0].UnitID, Epoch: res.Units[0].Epoch}
			phantom := agentapi.UnitRef{UnitID: res.Units[1].UnitID, Epoch: res.Units[1].Epoch}
			beat := func(refs ...agentapi.UnitRef) agentapi.HeartbeatResponse {
				t.Helper()
				resp, err := w.c.Heartbeat(ctx, agentapi.HeartbeatRequest{Running: refs})
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}

			clk.advance(5 * time.Second) // within the grace
			beat(known)
			if u := s.unit(t, phantom.UnitID); u.Status != store.UnitRunning || u.Epoch != phantom.Epoch {
				t.Fatalf("a fresh unlisted unit was taken back: %+v", u)
			}
			clk.advance(10 * time.Second)
			beat(known)
			if u := s.unit(t, phantom.UnitID); u.Status != store.UnitQueued || u.Epoch != phantom.Epoch+1 || u.WorkerID != 0 {
				t.Fatalf("the unlisted unit after the grace: %+v", u)
			}
			u := s.unit(t, known.UnitID)
			if u.Status != store.UnitRunning || u.LeaseExpires == nil || !u.LeaseExpires.Equal(s.eng.Now().Add(time.Hour)) {
				t.Fatalf("the listed unit: %+v", u)
			}
			// Listed late, the old lease is no longer the worker's: stop it.
			if resp := beat(known, phantom); len(resp.Cancel) != 1 || resp.Cancel[0] != phantom {
				t.Fatalf("cancel = %+v, want the taken-back unit", resp.Cancel)
			}
			// It is leased again at once (no avoidance of the worker), to whoever asks.
			again, err := w.c.Lease(ctx, agentapi.LeaseRequest{Max: 1})
			if err != nil || len(again.Units) != 1 || again.Units[0].UnitID != phantom.UnitID {
				t.Fatalf("lease after hand-back: %+v %v", again, err)
			}
		})
	}
}

// TestAgentRestartRequeuesItsUnit: an agent leases a unit and is killed; restarted under the same name
// (what a supervisor does), it registers a new incarnation, which requeues the unit at once rather than
// keep it running for ever under heartbeats that do not list it. The job finishes long before the lease
// could expire.
func TestAgentRestartRequeuesItsUnit(t *testing.T) {
	bin := binary(t)
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStack(t, d.Open(t), engine.Config{LeaseFor: 10 * time.Minute, Heartbeat: time.Second, SweepEvery: 200 * time.Millisecond}, nil)
			marks := t.TempDir()
			// The first run hangs (the agent dies under it); the run after the restart finishes.
			job := s.submit(t, "shell", 1, func(int) string {
				return fmt.Sprintf(`{"command":["sh","-c","if [ -e %[1]s/first ]; then exit 0; fi; touch %[1]s/first; sleep 20"]}`, marks)
			}, nil)
			workDir := t.TempDir()
			start := func() *exec.Cmd {
				cmd := exec.Command(bin, "agent", "--server", s.srv.URL, "--token", s.creds.AgentToken, "--name", "phoenix",
					"--work-dir", workDir, "--slots", "1", "--log-level", "warn")
				cmd.Stderr = os.Stderr
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that its orphaned children can be killed too
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
				return cmd
			}
			first := start()
			var held store.Unit
			testutil.Eventually(t, 60*time.Second, func() error {
				if _, err := os.Stat(marks + "/first"); err == nil {
					units, _, err := s.st.ListUnits(ctx, store.UnitFilter{JobID: job.ID, Statuses: []store.UnitStatus{store.UnitRunning}})
					if err != nil {
						t.Fatal(err)
					}
					if len(units) == 1 {
						held = units[0]
						return nil
					}
				}
				return errors.New("the agent never started the unit")
			})
			if err := first.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			first.Wait()
			start()
			if j := waitJob(t, s.st, job.ID, 30*time.Second); j.Status != store.JobSucceeded {
				t.Fatalf("job ended %s", j.Status)
			}
			u := s.unit(t, held.ID)
			if u.Status != store.UnitDone || u.Epoch <= held.Epoch {
				t.Fatalf("the killed agent's unit: %+v (was epoch %d)", u, held.Epoch)
			}
		})
	}
}
