package aitasks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/store/postgres"
)

// statementCounter counts the statements (each one round trip to the database, BEGIN and COMMIT
// included) sent on behalf of requests marked in their context.
type statementCounter struct {
	mu  sync.Mutex
	n   int
	sql map[string]int
}

type countedKey struct{}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if ctx.Value(countedKey{}) != nil {
		c.mu.Lock()
		c.n++
		q := strings.Join(strings.Fields(d.SQL), " ")
		c.sql[q[:min(len(q), 40)]]++
		c.mu.Unlock()
	}
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestSubmitRoundTrips counts the statements one relay submit sends to PostgreSQL, one submit at a
// time, with the caches warm: the submit path's cost on a database across a network is its round
// trips, and this keeps their number from growing unnoticed.
func TestSubmitRoundTrips(t *testing.T) {
	const submits, most = 20, 8
	base := postgres.OpenTest(t)
	cfg := base.Pool().Config()
	counter := &statementCounter{sql: map[string]int{}}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// The caches stay warm however slowly a busy machine runs the submits.
	e := newEnv(t, postgres.New(pool), func(c *aitasks.Config) { c.PollInterval, c.CacheTTL = time.Hour, time.Hour })
	u := e.newUser("counted", "user", 1<<40)
	mux := http.NewServeMux()
	e.api.Mount(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), countedKey{}, true)))
	}))
	t.Cleanup(srv.Close)
	submit := func() {
		req, _ := http.NewRequest("POST", srv.URL+"/suno/submit/lyrics", strings.NewReader(`{"prompt":"words"}`))
		req.Header.Set("Authorization", "Bearer "+u.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("submit: %s", resp.Status)
		}
	}
	submit() // warms the caches of key, price and channels
	counter.mu.Lock()
	counter.n, counter.sql = 0, map[string]int{}
	counter.mu.Unlock()
	for range submits {
		submit()
	}
	counter.mu.Lock()
	per := float64(counter.n) / submits
	t.Logf("one at a time: %.1f statements per submit: %v", per, counter.sql)
	if per > most {
		t.Fatalf("%.1f statements per submit, want at most %d", per, most)
	}
	// Concurrent submits share transactions (group commit): never more statements each than alone.
	counter.n, counter.sql = 0, map[string]int{}
	counter.mu.Unlock()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range submits {
				submit()
			}
		})
	}
	wg.Wait()
	counter.mu.Lock()
	defer counter.mu.Unlock()
	per = float64(counter.n) / (8 * submits)
	t.Logf("8 at a time: %.1f statements per submit: %v", per, counter.sql)
	if per > most {
		t.Fatalf("%.1f statements per submit, want at most %d", per, most)
	}
}
