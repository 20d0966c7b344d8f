package native_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// BenchmarkJobsFilter100k answers the console's jobs page over HTTP with 100,000 jobs (of three
// kinds, one unit each, 2% paused) across 10 accounts: the first page, a filter by kind and
// status, text searches (one job in 10,000; every job; two letters, below the trigram indexes), deep
// pages by offset and by key, and a tenant's filter. ns/op is one answer's latency.
//
//	go test ./internal/native/ -run '^$' -bench JobsFilter100k -benchtime 50x
func BenchmarkJobsFilter100k(b *testing.B) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) { benchJobsFilter(b, d.Open) })
	}
}

func benchJobsFilter(b *testing.B, open func(testing.TB) store.Store) {
	{
		ctx := context.Background()
		st := open(b)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		eng := engine.New(st, engine.Config{}, log, engine.NewMetrics(prometheus.NewRegistry(), st))
		blobs, _ := blob.NewLocal(b.TempDir())
		keyring, _ := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
		creds, err := app.Bootstrap(ctx, st, b.TempDir(), "", eng.Now())
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: prometheus.NewRegistry()}))
		defer srv.Close()
		const jobs, batch, accounts = 100_000, 1000, 10
		kinds := []string{"render.task", "rpa.job", "batch"}
		now := time.Now()
		start := time.Now()
		var tenantToken string
		for a := 2; a <= accounts; a++ {
			acct, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("tenant-%d", a), Role: store.RoleUser, CreatedAt: now, UpdatedAt: now})
			if err != nil {
				b.Fatal(err)
			}
			if tenantToken == "" {
				if tenantToken, _, err = auth.IssueToken(ctx, st, acct.ID, store.CredAdmin, "", now); err != nil {
					b.Fatal(err)
				}
			}
		}
		paused := store.JobPaused
		for n := 0; n < jobs; n += batch {
			err := st.InTx(ctx, func(tx store.Store) error {
				for i := n; i < n+batch; i++ {
					j, err := tx.CreateJob(ctx, store.Job{AccountID: int64(1 + i%accounts), Kind: kinds[i%len(kinds)],
						Name: fmt.Sprintf("scene-%06d.blend", i), MaxAttempts: 3}, []store.Unit{{Capability: "shell"}}, now)
					if err != nil {
						return err
					}
					if i%50 == 0 {
						if _, err := tx.PatchJob(ctx, j.ID, store.JobPatch{Status: &paused}, now); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := st.FoldJobTallies(ctx); err != nil {
			b.Fatal(err)
		}
		if pg, ok := st.(interface{ Pool() *pgxpool.Pool }); ok {
			// What autovacuum does soon after a bulk load: statistics, and the visibility map that
			// index-only scans need.
			if _, err := pg.Pool().Exec(ctx, "VACUUM ANALYZE jobs, units, job_tallies, job_tally_changes"); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("seeded %d jobs in %v", jobs, time.Since(start).Round(time.Second))
		for _, tc := range []struct {
			name, query, token string
		}{
			{"first page", "limit=50", creds.AdminToken},
			{"kind and status", "kind=rpa.job&status=paused&limit=50", creds.AdminToken},
			{"search", "search=scene-04242&limit=50", creds.AdminToken},
			{"deep page", "status=queued&limit=50&offset=50000", creds.AdminToken},
			{"deep page, any status", "limit=50&offset=50000", creds.AdminToken},
			{"deep page by key", "status=queued&limit=50&before_id=50000", creds.AdminToken},
			{"search, every job", "search=scene&limit=50", creds.AdminToken},
			{"search, two letters", "search=42&limit=50", creds.AdminToken},
			{"tenant kind", "kind=batch&limit=50", tenantToken},
		} {
			b.Run(tc.name, func(b *testing.B) {
				req, _ := http.NewRequest("GET", srv.URL+"/api/v1/jobs?"+tc.query, nil)
				req.Header.Set("Authorization", "Bearer "+tc.token)
				for b.Loop() {
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"jobs":[{`)) {
						b.Fatalf("%d %.200s", res.StatusCode, body)
					}
				}
			})
		}
	}
}
