package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
)

// stack is one server process's worth of parts, served over real HTTP on loopback.
type stack struct {
	st     store.Store
	eng    *engine.Engine
	srv    *httptest.Server
	blobs  blob.Store
	keys   *auth.Keyring
	reg    *prometheus.Registry
	creds  app.Credentials
	cancel context.CancelFunc
}

func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startStack serves st with an engine configured by cfg. creds, when set, are the tokens another stack on
// the same database already created.
func startStack(t testing.TB, st store.Store, cfg engine.Config, creds *app.Credentials) *stack {
	t.Helper()
	return buildStack(t, st, cfg, stackOptions{creds: creds})
}

// startStackWithFacades is startStack with the dialect facades mounted, as `taskcenter serve` has them.
func startStackWithFacades(t testing.TB, st store.Store, cfg engine.Config) *stack {
	t.Helper()
	return buildStack(t, st, cfg, stackOptions{facades: true})
}

// stackOptions vary a stack: the first-start credentials to reuse (a second replica), the facades, and
// the blob store (a fresh local directory when nil).
type stackOptions struct {
	creds   *app.Credentials
	facades bool
	blobs   blob.Store
}

func buildStack(t testing.TB, st store.Store, cfg engine.Config, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	blobs := o.blobs
	if blobs == nil {
		local, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		blobs = local
	}
	key := make([]byte, 32)
	rand.Read(key)
	keyring, _ := auth.NewKeyring(key)
	reg := prometheus.NewRegistry()
	if cfg.Holder == "" {
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Holder = "test-" + hex.EncodeToString(b)
	}
	log := quietLogger(t)
	eng := engine.New(st, cfg, log, engine.NewMetrics(reg, st))
	s := &stack{st: st, eng: eng, blobs: blobs, keys: keyring, reg: reg}
	creds := o.creds
	if creds == nil {
		c, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
		if err != nil || c == nil {
			t.Fatalf("bootstrap: %v", err)
		}
		creds = c
	}
	s.creds = *creds
	var facades []server.Facade
	if o.facades {
		var err error
		facades, err = app.Facades(app.FacadeDeps{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log})
		if err != nil {
			t.Fatalf("facades: %v", err)
		}
	}
	s.srv = httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: reg}, facades...))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng.Run(runCtx)
	}()
	s.cancel = func() {
		cancel()
		<-done
	}
	t.Cleanup(func() {
		s.cancel()
		eng.Drain()
		s.srv.Close()
		for _, f := range facades { // their in-process workers stop before the store closes
			if c, ok := f.(io.Closer); ok {
				_ = c.Close()
			}
		}
	})
	return s
}

func (s *stack) adminAccount(t testing.TB) store.Account {
	a, err := s.st.GetAccountByName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// counter reads a counter of the stack's registry.
func (s *stack) counter(t testing.TB, name string) float64 {
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += metricValue(m)
			}
			return sum
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// submit creates a job of n units for the admin account.
func (s *stack) submit(t testing.TB, capability string, n int, spec func(i int) string, mutate func(*engine.JobSpec)) store.Job {
	t.Helper()
	units := make([]engine.UnitSpec, n)
	for i := range units {
		units[i] = engine.UnitSpec{Name: fmt.Sprint(i), Capability: capability}
		if spec != nil {
			units[i].Spec = []byte(spec(i))
		}
	}
	js := engine.JobSpec{AccountID: s.adminAccount(t).ID, Kind: "test", Units: units, MaxAttempts: 5}
	if mutate != nil {
		mutate(&js)
	}
	j, err := s.eng.Submit(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// waitJob waits until the job reaches a terminal status and returns it.
func waitJob(t testing.TB, st store.Store, id int64, within time.Duration) store.Job {
	t.Helper()
	var j store.Job
	testutil.Eventually(t, within, func() error {
		var err error
		if j, err = st.GetJob(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if j.Status.Terminal() {
			return nil
		}
		counts, _ := st.UnitCounts(context.Background(), []int64{id})
		return fmt.Errorf("job %d still %s; units %v", id, j.Status, counts[id])
	})
	return j
}

// protoWorker is a minimal worker speaking the agent protocol through the agent's client, for tests
// that need to watch every lease and acknowledgement.
type protoWorker struct {
	c  *agent.Client
	id int64
}

func registerWorker(t testing.TB, baseURL, enrollToken, name string, caps []string) *protoWorker {
	t.Helper()
	c := agent.NewClient(baseURL, nil)
	resp, err := c.Register(context.Background(), enrollToken, agentapi.RegisterRequest{Name: name, Kind: "test", Capabilities: caps})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	c.SetToken(resp.WorkerToken)
	return &protoWorker{c: c, id: resp.WorkerID}
}

// ackLedger counts, per unit, the completions the server acknowledged as taken.
type ackLedger struct {
	mu   sync.Mutex
	acks map[int64]int
}

func newAckLedger() *ackLedger { return &ackLedger{acks: map[int64]int{}} }

func (l *ackLedger) add(res agentapi.CompleteResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range res.Results {
		if r.Status == "ok" {
			l.acks[r.UnitID]++
		}
	}
}

func (l *ackLedger) twice() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for id, n := range l.acks {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

// buildBinary builds cmd/taskcenter once per test run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "taskcenter-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "taskcenter")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/taskcenter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func binary(t testing.TB) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// pgSchemaURL creates a fresh schema in the test database and returns a URL whose connections use it,
// for tests that open the same database from several processes.
func pgSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TASKCENTER_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable in CI: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "e2e_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
