// Command taskcenter is the taskcenter server, its agent and its admin tool in one binary.
//
//	taskcenter dev                      a server and a local agent: a working farm on one machine
//	taskcenter serve [flags]            the server
//	taskcenter agent [flags]            an agent (render node, robot, recorder, ...)
//	taskcenter admin <command> [flags]  accounts, tokens, jobs and workers through the native API
//	taskcenter bench [flags]            the engine's in-process throughput against a database
//	taskcenter version
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = serveCmd(ctx, args, false)
	case "dev":
		err = serveCmd(ctx, args, true)
	case "agent":
		err = agentCmd(ctx, args)
	case "admin":
		err = adminCmd(ctx, args, os.Stdout)
	case "bench":
		err = benchCmd(ctx, args, os.Stdout)
	case "version", "-v", "--version":
		fmt.Println("taskcenter", version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "taskcenter: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskcenter:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: taskcenter <command> [flags]

commands:
  dev      run a server and a local agent on this machine (SQLite, ./taskcenter-data)
  serve    run the server
  agent    run an agent that takes work from a server
  admin    manage accounts, tokens, jobs and workers (taskcenter admin help)
  bench    measure the engine's throughput against a database
  version  print the version

Run 'taskcenter <command> -h' for its flags.
`)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
