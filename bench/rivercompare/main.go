// Command rivercompare measures River, the Go job queue on PostgreSQL, the way `taskcenter bench` measures
// taskcenter's engine (no-op jobs, insert continuously or drain N pre-inserted), so that the two can be
// run side by side on one database in one sitting. It is its own module: taskcenter does not depend on
// River.
//
//	go run . --database-url postgres://postgres@127.0.0.1:5432/test -n 100000
//	go run . --database-url postgres://postgres@127.0.0.1:5432/test --duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	done *atomic.Int64
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	w.done.Add(1)
	return nil
}

func main() {
	url := flag.String("database-url", "postgres://postgres@127.0.0.1:5432/test", "PostgreSQL database")
	schema := flag.String("schema", "river_bench", "schema to create River's tables in (dropped first)")
	drain := flag.Int("n", 0, "pre-insert N jobs, then time working them off")
	duration := flag.Duration("duration", 10*time.Second, "insert and work continuously for this long (when -n is 0)")
	// River's own benchmark tunes the client for throughput the same way: many workers, a short fetch
	// cooldown and poll interval (its defaults, 100 ms and 1 s, cap a queue near 1,000 jobs/s).
	workers := flag.Int("workers", 2000, "River's MaxWorkers for the queue")
	flag.Parse()
	if err := run(context.Background(), *url, *schema, *drain, *duration, *workers); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url, schema string, drain int, duration time.Duration, workers int) error {
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema))
	admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var done atomic.Int64
	ws := river.NewWorkers()
	river.AddWorker(ws, &noopWorker{done: &done})
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:           ws,
		FetchCooldown:     river.FetchCooldownMin,
		FetchPollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	insert := func(n int) error {
		params := make([]river.InsertManyParams, n)
		for i := range params {
			params[i] = river.InsertManyParams{Args: noopArgs{}}
		}
		_, err := client.InsertManyFast(ctx, params)
		return err
	}
	if drain > 0 {
		for left := drain; left > 0; left -= 1000 {
			if err := insert(min(left, 1000)); err != nil {
				return fmt.Errorf("pre-insert: %w", err)
			}
		}
		start := time.Now()
		if err := client.Start(ctx); err != nil {
			return err
		}
		for done.Load() < int64(drain) {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		_ = client.Stop(ctx)
		fmt.Printf("river: drain %d jobs, MaxWorkers %d: %.0f jobs/s\n", drain, workers, float64(drain)/elapsed.Seconds())
		return nil
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	start := time.Now()
	var inserted int64
	for time.Since(start) < duration {
		if inserted-done.Load() > 20_000 { // the same bounded backlog as taskcenter bench
			time.Sleep(time.Millisecond)
			continue
		}
		if err := insert(1000); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		inserted += 1000
	}
	n, elapsed := done.Load(), time.Since(start)
	_ = client.Stop(ctx)
	fmt.Printf("river: insert+work for %s, MaxWorkers %d: %d jobs = %.0f jobs/s\n", duration, workers, n, float64(n)/elapsed.Seconds())
	return nil
}
