package recording_test

import (
	"context"
	"testing"

	"github.com/coder/websocket"

	"taskcenter/internal/recording"
)

// BenchmarkCommandRoundTrip: one query (4104) written and its answer read on a logged-in long
// connection, over loopback, server in the same process (SQLite). The load program bench/recws
// measures the same against a separate server process, with 1,000 connections held.
func BenchmarkCommandRoundTrip(b *testing.B) {
	e := sqliteEnv(b, func(c *recording.Config) { c.CommandsPerSecond, c.CommandBurst = 1e9, 1<<30 })
	c := e.login()
	ok(b, c.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))
	frame := []byte(`{"business":"RE","id":4104,"page_size":1,"seq":"b"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.conn.Write(ctx, websocket.MessageText, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.conn.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
