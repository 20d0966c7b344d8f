package aitasks_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/store/sqlite"
	"taskcenter/internal/testutil"
)

// TestCrashChild is the server process TestCrashResume kills; it runs only when started by it.
func TestCrashChild(t *testing.T) {
	driver := os.Getenv("AITASKS_CRASH_DRIVER")
	if driver == "" {
		t.Skip("started by TestCrashResume only")
	}
	ctx := context.Background()
	var st store.Store
	var err error
	if driver == "sqlite" {
		st, err = sqlite.Open(ctx, os.Getenv("AITASKS_CRASH_DB"))
	} else {
		st, err = postgres.OpenSchema(ctx, postgres.TestURL(), os.Getenv("AITASKS_CRASH_DB"))
	}
	if err != nil {
		t.Fatal(err)
	}
	e := newReplica(t, st, func(c *aitasks.Config) { c.SubmitGrace = 300 * time.Millisecond })
	fmt.Printf("URL %s\n", e.srv.URL)
	select {} // until killed
}

// TestCrashResume kills a server with SIGKILL while submits and polls are under way, starts
// another on the same database, and checks that no task exists without its charge nor a charge
// without its task, that every task ends, each failure refunded once, and that polling resumed.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			var st store.Store
			var db string
			if driver == "sqlite" {
				db = filepath.Join(t.TempDir(), "crash.db")
				s, err := sqlite.Open(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				st = s
			} else {
				s := postgres.OpenTest(t)
				if err := s.Pool().QueryRow(ctx, "SELECT current_schema()").Scan(&db); err != nil {
					t.Fatal(err)
				}
				st = s
			}
			up := newFakeUpstream(t)
			api, tenant := setupOffline(t, st, up)
			u, _, err := api.CreateUser(ctx, tenant, "alice", "user")
			if err != nil {
				t.Fatal(err)
			}
			const start = 1_000_000
			if _, err := api.TopUp(ctx, u, start, "test"); err != nil {
				t.Fatal(err)
			}
			key, _, err := api.IssueKey(ctx, u.ID, "k", -1, nil)
			if err != nil {
				t.Fatal(err)
			}

			child, url := startChild(t, driver, db)
			var sent atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						prompt := fmt.Sprintf("song %d", i)
						if i%3 == 0 {
							prompt = "please fail " + prompt
						}
						req, _ := http.NewRequest("POST", url+"/suno/submit/music", strings.NewReader(`{"prompt":"`+prompt+`"}`))
						req.Header.Set("Authorization", "Bearer "+key)
						if resp, err := http.DefaultClient.Do(req); err == nil {
							resp.Body.Close()
							sent.Add(1)
						}
					}
				}()
			}
			testutil.Eventually(t, 30*time.Second, func() error {
				if n := sent.Load(); n < 40 {
					return errorf("%d submits", n)
				}
				return nil
			})
			_ = child.Process.Kill() // mid-run: submits and polls under way
			_ = child.Wait()
			close(stop)
			wg.Wait()

			_, url2 := startChild(t, driver, db)
			_ = url2
			var ts []store.AITask
			testutil.Eventually(t, 60*time.Second, func() error {
				var err error
				ts, _, err = st.ListAITasks(ctx, store.AITaskFilter{TenantID: tenant})
				if err != nil {
					return err
				}
				for _, tk := range ts {
					if tk.Active {
						return errorf("task %s still %s", tk.TaskID, tk.Status)
					}
				}
				return nil
			})
			lines, _, err := st.ListLedger(ctx, store.LedgerFilter{AccountID: u.AccountID})
			if err != nil {
				t.Fatal(err)
			}
			charges, refunds := map[string]int{}, map[string]int{}
			for _, l := range lines {
				switch {
				case l.Kind == store.LedgerCharge:
					charges[l.Ref]++
				case l.Kind == store.LedgerRefund:
					refunds[strings.TrimPrefix(l.Ref, "refund:")]++
				}
			}
			var want int64 = start
			succeeded, failed := 0, 0
			for _, tk := range ts {
				ref := "aitask:" + tk.TaskID
				if charges[ref] != 1 {
					t.Errorf("task %s (%s) has %d charges", tk.TaskID, tk.Status, charges[ref])
				}
				delete(charges, ref)
				switch tk.Status {
				case "SUCCESS":
					succeeded++
					want -= tk.Quota
					if refunds[ref] != 0 {
						t.Errorf("succeeded task %s refunded", tk.TaskID)
					}
				case "FAILURE":
					failed++
					if refunds[ref] != 1 {
						t.Errorf("failed task %s refunded %d times", tk.TaskID, refunds[ref])
					}
				default:
					t.Errorf("task %s ended %s", tk.TaskID, tk.Status)
				}
			}
			for ref := range charges {
				t.Errorf("charge %s has no task", ref)
			}
			if got, _ := api.Quota(ctx, u); got != want {
				t.Errorf("quota %d, want %d", got, want)
			}
			if succeeded == 0 || failed == 0 {
				t.Errorf("%d succeeded, %d failed: polling did not resume", succeeded, failed)
			}
			t.Logf("%d tasks: %d succeeded, %d failed", len(ts), succeeded, failed)
		})
	}
}

// setupOffline writes a tenant's channel and prices with a facade that runs nothing.
func setupOffline(t *testing.T, st store.Store, up *fakeUpstream) (*aitasks.API, int64) {
	t.Helper()
	ctx := context.Background()
	eng := engine.New(st, engine.Config{Holder: "setup"}, testLog(), nil)
	keys, err := auth.NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	api, err := aitasks.New(aitasks.Config{Engine: eng, Store: st, Keyring: keys, Log: testLog(), Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := st.CreateAccount(ctx, store.Account{Name: "tenant", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.AddChannel(ctx, store.AIChannel{TenantID: tenant.ID, Platform: "suno", BaseURL: up.srv.URL, Enabled: true}, up.key); err != nil {
		t.Fatal(err)
	}
	if err := api.SetPrice(ctx, store.AIPrice{TenantID: tenant.ID, Platform: "suno", Action: "MUSIC", Quota: priceMusic}); err != nil {
		t.Fatal(err)
	}
	return api, tenant.ID
}

// startChild runs TestCrashChild in a new process on the database and returns it with its URL.
func startChild(t *testing.T, driver, db string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "AITASKS_CRASH_DRIVER="+driver, "AITASKS_CRASH_DB="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if url, ok := strings.CutPrefix(lines.Text(), "URL "); ok {
			go func() {
				for lines.Scan() { // keep the pipe drained
				}
			}()
			return cmd, url
		}
	}
	t.Fatalf("the child server printed no URL: %v", lines.Err())
	return nil, ""
}
