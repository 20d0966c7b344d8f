package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
)

// helperAgentEnv names the server an agent run as a separate process of this test binary talks to
// (see runHelperAgent): tests that kill an agent with -9 need a process of its own.
const (
	helperAgentEnv    = "TASKCENTER_TEST_AGENT_SERVER"
	helperWorkDirEnv  = "TASKCENTER_TEST_AGENT_WORKDIR"
	helperAgentEnroll = "enroll-secret"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(helperAgentEnv); url != "" {
		os.Exit(runHelperAgent(url, os.Getenv(helperWorkDirEnv)))
	}
	os.Exit(m.Run())
}

// runHelperAgent runs an agent until SIGTERM (or SIGKILL, the point of it).
func runHelperAgent(url, workDir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	err := agent.Run(ctx, agent.Config{
		ServerURL:        url,
		Token:            helperAgentEnroll,
		Name:             "helper-agent",
		WorkDir:          workDir,
		Executors:        executor.Defaults(),
		BackoffMin:       20 * time.Millisecond,
		BackoffMax:       200 * time.Millisecond,
		ProgressInterval: 50 * time.Millisecond,
		LeaseWaitSeconds: 1,
	}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper agent:", err)
		return 1
	}
	return 0
}
