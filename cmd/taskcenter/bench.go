package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"taskcenter/internal/app"
	"taskcenter/internal/bench"
	"taskcenter/internal/engine"
)

func benchCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	dbURL := fs.String("database-url", envOr("TASKCENTER_DATABASE_URL", ""), "database to measure (postgres://...); empty: a fresh SQLite file in a temporary directory")
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 0, "insert and work continuously for this long (default 10s unless -n is given)")
	fs.IntVar(&o.Drain, "n", 0, "pre-insert N units, then time working them off")
	fs.IntVar(&o.Workers, "workers", 8, "concurrent workers")
	fs.IntVar(&o.Batch, "batch", 100, "units per lease and per completion report")
	fs.IntVar(&o.JobSize, "job-size", 1000, "units per inserted job")
	fs.Parse(args)
	dir := ""
	if *dbURL == "" {
		var err error
		if dir, err = os.MkdirTemp("", "taskcenter-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dbURL = "sqlite://" + filepath.Join(dir, "bench.db")
	}
	st, err := app.OpenStore(ctx, *dbURL, dir)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	eng := engine.New(st, engine.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	res, err := bench.Run(ctx, eng, st, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s (%s)\n", res, st.Driver())
	return nil
}
