package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Work the server does itself (a scene analysis, a poller) is a unit like any other, of a capability
// beginning with "inprocess:", leased by an in-process worker: the lease, its heartbeats, retries,
// time limits, controls and the takeover by another replica after a crash are the engine's.
func ExampleEngine_StartInProcess() {
	ctx := context.Background()
	st, cleanup := openExampleStore(ctx)
	defer cleanup()
	eng := engine.New(st, engine.Config{Holder: "example"}, slog.New(slog.DiscardHandler), nil)
	finished := make(chan store.Job, 1)
	eng.RegisterKind("greeting", engine.KindHooks{JobFinished: func(_ context.Context, j store.Job) { finished <- j }})

	// Two greetings at a time in this process. An error is retried while attempts remain, unless it
	// wraps engine.ErrPermanent.
	w, err := eng.StartInProcess(ctx, "inprocess:greet", 2, func(ctx context.Context, u store.Unit) (json.RawMessage, error) {
		var spec struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(u.Spec, &spec); err != nil || spec.Name == "" {
			return nil, fmt.Errorf("%w: a greeting needs a name", engine.ErrPermanent)
		}
		return json.Marshal(map[string]string{"greeting": "hello " + spec.Name})
	})
	if err != nil {
		panic(err)
	}
	// On shutdown: running handlers are told to stop and their units handed back for another replica.
	defer func() { _ = w.Stop(ctx) }()

	job, err := eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "greeting", Units: []engine.UnitSpec{
		{Capability: "inprocess:greet", Spec: json.RawMessage(`{"name":"world"}`)},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println("job", (<-finished).Status)
	units, _, err := st.ListUnits(ctx, store.UnitFilter{JobID: job.ID})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(units[0].Result))
	// Output:
	// job succeeded
	// {"greeting":"hello world"}
}
