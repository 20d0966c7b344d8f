package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"taskcenter/internal/store"
)

// record appends ev to the history. History is best effort here: a failure is logged, not returned,
// so that it never undoes the change it describes.
func (e *Engine) record(ctx context.Context, ev store.Event) {
	if err := e.store.AppendEvents(ctx, []store.Event{ev}); err != nil {
		e.log.Warn("append event", "type", ev.Type, "err", err)
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal event data: %v", err)) // only engine-built values reach here
	}
	return b
}
