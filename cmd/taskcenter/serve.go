package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"taskcenter/internal/app"
	"taskcenter/internal/blobsweep"
	"taskcenter/internal/gctune"
)

func serveCmd(ctx context.Context, args []string, dev bool) error {
	name := "serve"
	if dev {
		name = "dev"
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	var o app.Options
	fs.StringVar(&o.Listen, "listen", envOr("TASKCENTER_LISTEN", "127.0.0.1:8080"), "address to listen on")
	fs.StringVar(&o.DataDir, "data-dir", envOr("TASKCENTER_DATA_DIR", "taskcenter-data"), "directory for the SQLite database, blobs, the server key and first-start credentials")
	fs.StringVar(&o.DatabaseURL, "database-url", envOr("TASKCENTER_DATABASE_URL", ""), "postgres://... to use PostgreSQL (several replicas may share it); empty for SQLite in the data directory")
	fs.StringVar(&o.BlobURL, "blob-url", envOr("TASKCENTER_BLOB_URL", ""), "s3://[key:secret@]host[:port]/bucket[/prefix][?region=R&insecure=true] for an S3-compatible bucket (replicas on several hosts); empty for <data-dir>/blobs")
	fs.StringVar(&o.PublicURL, "public-url", envOr("TASKCENTER_PUBLIC_URL", ""), "URL clients and agents reach this server at (default http://<listen>)")
	fs.BoolVar(&o.LocalAgent, "local-agent", dev, "also run an agent in this process")
	fs.IntVar(&o.AgentSlots, "agent-slots", 1, "units the local agent runs at once")
	fs.DurationVar(&o.Engine.LeaseFor, "lease-for", 0, "how long a lease lives without a heartbeat (default 30s)")
	imageTTL := fs.String("image-url-ttl", envOr("TASKCENTER_IMAGE_URL_TTL", "24h"), "how long a render progress image or thumbnail URL stays valid")
	blobGrace := fs.String("blob-grace", envOr("TASKCENTER_BLOB_GRACE", blobsweep.DefaultGrace.String()), "how long a blob no account refers to any more is kept before the sweep deletes it")
	sweepEvery := fs.String("blob-sweep-every", envOr("TASKCENTER_BLOB_SWEEP_EVERY", blobsweep.DefaultEvery.String()), "period of the sweep of unreferenced blobs; 0 turns it off")
	fs.BoolVar(&o.AITasksAllowPrivateEgress, "aitasks-allow-private-egress", envOr("TASKCENTER_AITASKS_ALLOW_PRIVATE_EGRESS", "") == "true",
		"let AI task notify_hook callbacks and result downloads reach loopback, private and link-local addresses")
	logLevel := fs.String("log-level", envOr("TASKCENTER_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.Parse(args)
	ttl, err := time.ParseDuration(*imageTTL)
	if err != nil || ttl <= 0 {
		return fmt.Errorf("-image-url-ttl %q: want a positive duration such as 24h", *imageTTL)
	}
	o.ImageURLTTL = ttl
	if o.BlobGrace, err = time.ParseDuration(*blobGrace); err != nil || o.BlobGrace <= 0 {
		return fmt.Errorf("-blob-grace %q: want a positive duration such as 24h", *blobGrace)
	}
	if o.BlobSweepEvery, err = time.ParseDuration(*sweepEvery); err != nil || o.BlobSweepEvery < 0 {
		return fmt.Errorf("-blob-sweep-every %q: want a duration such as 1h, or 0 for no sweep", *sweepEvery)
	}
	if o.BlobSweepEvery == 0 {
		o.BlobSweepEvery = -1 // app.Options: negative is off, zero the default
	}
	o.Log = newLogger(*logLevel)
	if _, applied := gctune.Apply(os.Getenv); applied {
		o.Log.Info("garbage collection", "GOGC", gctune.ServerPercent, "source", "server default; set GOGC to change it")
	}
	o.Ready = func(addr string) {
		creds := app.CredentialsFile(o.DataDir)
		fmt.Printf("taskcenter is ready at http://%s\n  admin and agent tokens: %s\n  try: go run ./cmd/taskcenter admin --data-dir %s whoami\n", addr, creds, o.DataDir)
	}
	return app.Run(ctx, o)
}
