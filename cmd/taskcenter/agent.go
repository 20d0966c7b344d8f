package main

import (
	"context"
	"flag"
	"os"
	"strings"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
)

func agentCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	var c agent.Config
	host, _ := os.Hostname()
	fs.StringVar(&c.ServerURL, "server", envOr("TASKCENTER_SERVER", "http://127.0.0.1:8080"), "server URL")
	fs.StringVar(&c.Token, "token", envOr("TASKCENTER_AGENT_TOKEN", ""), "agent enrollment token (see credentials.json in the server's data directory)")
	fs.StringVar(&c.Name, "name", host, "agent name, unique per agent")
	fs.StringVar(&c.Kind, "kind", "render", "worker kind: render, robot, studio, recorder, ...")
	tags := fs.String("tags", "", "comma-separated tags")
	fs.StringVar(&c.WorkDir, "work-dir", "", "directory for the outbox, input cache and scratch space")
	fs.IntVar(&c.Slots, "slots", 1, "units to run at once")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	if *tags != "" {
		c.Tags = strings.Split(*tags, ",")
	}
	c.Executors = executor.Defaults()
	return agent.Run(ctx, c, newLogger(*logLevel))
}
