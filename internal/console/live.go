package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/native"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// The live stream: each page of the app opens one EventSource on /console/live, naming what it
// shows (a job, the overview). One follower per server process reads what changed, once per tick
// and only while a console is open, and fans it out: the engine's history (events: jobs created,
// paused, finished, units failed, workers registered), the workers' states, the watched jobs' unit
// counts and running units' progress, and the overview's counts. Its reads grow with the distinct
// jobs and accounts watched, not with the number of consoles; a console too slow to take its
// messages is cut off, and its EventSource reconnects and reloads.

// message is one server-sent event.
type message struct {
	event string
	data  []byte
}

// subscriber is one open stream.
type subscriber struct {
	scope    int64 // the account it may see; 0: every account (an admin)
	job      int64 // the job its page shows; 0: none
	overview bool  // its page shows the overview
	ch       chan message
	gone     chan struct{} // closed when the hub drops it (too slow, or shutting down)
	once     sync.Once
	// primed is set (by the follower alone) once the stream has been sent the current state of
	// what it shows and "ready": what changed between the page's first reads and its stream's
	// start is not lost.
	primed bool
}

func (s *subscriber) drop() { s.once.Do(func() { close(s.gone) }) }

func (s *subscriber) sees(accountID int64) bool { return s.scope == 0 || s.scope == accountID }

// hub is the one follower fanning changes out to every stream of this process.
type hub struct {
	st   Store
	now  func() time.Time
	tick time.Duration
	log  *slog.Logger

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	running bool
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newHub(st Store, now func() time.Time, tick time.Duration, log *slog.Logger) *hub {
	return &hub{st: st, now: now, tick: tick, log: log, subs: map[*subscriber]struct{}{}, stop: make(chan struct{})}
}

// subscribe adds a stream, starting the follower if it was idle.
func (h *hub) subscribe(s *subscriber) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("console is shutting down")
	}
	h.subs[s] = struct{}{}
	if !h.running {
		h.running = true
		h.wg.Add(1)
		go h.run()
	}
	return nil
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

func (h *hub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.stop)
		for s := range h.subs {
			s.drop()
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// snapshot lists the open streams, or reports that none is left, in which case the follower stops
// (under the lock, so that a stream subscribing now starts a new one).
func (h *hub) snapshot() ([]*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 || h.closed {
		h.running = false
		return nil, false
	}
	out := make([]*subscriber, 0, len(h.subs))
	for s := range h.subs {
		out = append(out, s)
	}
	return out, true
}

// follower is what the follower remembers between ticks, to send only changes.
type follower struct {
	lastEvent    int64
	workers      map[int64]string
	jobs         map[int64]string // watched jobs' last state sent
	overviews    map[int64]string // each scope's last counts sent (without their time)
	overviewSent map[int64]native.Overview
	current      map[int64]jobLive
	lastOverview time.Time
}

func (h *hub) run() {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	f := follower{workers: map[int64]string{}, jobs: map[int64]string{}, overviews: map[int64]string{},
		overviewSent: map[int64]native.Overview{}, current: map[int64]jobLive{}}
	var err error
	if f.lastEvent, err = h.st.LastEventID(ctx); err != nil {
		h.log.Warn("console live stream: find the history's end", "err", err)
	}
	first := true
	t := time.NewTicker(h.tick)
	defer t.Stop()
	for {
		subs, ok := h.snapshot()
		if !ok {
			return
		}
		if err := h.step(ctx, &f, subs, first); err != nil && ctx.Err() == nil {
			h.log.Warn("console live stream", "err", err)
		}
		first = false
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// step reads what changed since the last tick and sends it to the streams that show it. On the
// first step it only learns the current state.
func (h *hub) step(ctx context.Context, f *follower, subs []*subscriber, first bool) error {
	send := func(event string, v any, to func(*subscriber) bool) {
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		for _, s := range subs {
			if to(s) {
				select {
				case s.ch <- message{event: event, data: b}:
				default:
					s.drop() // too slow: its page reconnects and reloads
				}
			}
		}
	}

	evs, err := h.st.ListEvents(ctx, store.EventFilter{AfterID: f.lastEvent, Limit: 500})
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	for _, ev := range evs {
		f.lastEvent = ev.ID
		if first {
			continue
		}
		send("event", native.NewEventView(ev), func(s *subscriber) bool { return s.sees(ev.AccountID) || ev.AccountID == 0 && s.scope == 0 })
	}

	ws, err := h.st.ListWorkers(ctx, "")
	if err != nil {
		return fmt.Errorf("read workers: %w", err)
	}
	seen := map[int64]bool{}
	for _, wk := range ws {
		seen[wk.ID] = true
		fp := string(wk.Status) + "|" + wk.LastHeartbeat.Truncate(time.Second).String() + "|" + fmt.Sprint(wk.DrainedAt)
		if f.workers[wk.ID] == fp {
			continue
		}
		f.workers[wk.ID] = fp
		if !first {
			send("worker", native.NewWorkerView(wk), func(s *subscriber) bool { return s.sees(wk.AccountID) })
		}
	}
	for id := range f.workers {
		if !seen[id] {
			delete(f.workers, id)
			send("worker_removed", map[string]int64{"id": id}, func(s *subscriber) bool { return s.scope == 0 })
		}
	}

	if err := h.stepJobs(ctx, f, subs, send); err != nil {
		return err
	}

	// The overview's counts scan more than the rest: every other second is live enough, but a
	// new stream gets them at once.
	now := h.now()
	scopes := map[int64]bool{}
	for _, s := range subs {
		if s.overview && (!s.primed || now.Sub(f.lastOverview) >= max(2*time.Second, h.tick)) {
			scopes[s.scope] = true
		}
	}
	if len(scopes) > 0 {
		f.lastOverview = now
		for scope := range scopes {
			o, err := native.ComputeOverview(ctx, h.st, scope, now)
			if err != nil {
				return fmt.Errorf("overview: %w", err)
			}
			o.ComputedAt = time.Time{}
			b, _ := json.Marshal(o)
			if f.overviews[scope] == string(b) {
				continue
			}
			f.overviews[scope] = string(b)
			o.ComputedAt = now
			f.overviewSent[scope] = o
			send("overview", o, func(s *subscriber) bool { return s.overview && s.scope == scope && s.primed })
		}
	}
	for _, s := range subs {
		if s.primed {
			continue
		}
		if v, ok := f.current[s.job]; ok {
			send("job", v, func(o *subscriber) bool { return o == s })
		}
		if s.overview {
			send("overview", f.overviewSent[s.scope], func(o *subscriber) bool { return o == s })
		}
		send("ready", struct{}{}, func(o *subscriber) bool { return o == s })
		s.primed = true
	}
	return nil
}

// jobLive is a watched job's state as the stream sends it. Running lists its running units and
// those of its children (a render task's frames run in its child jobs).
type jobLive struct {
	ID          int64           `json:"id"`
	Status      store.JobStatus `json:"status"`
	PauseReason string          `json:"pause_reason,omitempty"`
	Units       map[string]int  `json:"units"`
	Running     []unitLive      `json:"running"`
}

// unitLive is a running unit: its progress, how many outputs it has uploaded (a new one, such as a
// frame of a block, changes the count), and the image showing what it renders now
// (unitspec.LiveImage: a frame's progress image, else its last frame's thumbnail).
type unitLive struct {
	ID        int64   `json:"id"`
	JobID     int64   `json:"job_id"`
	Name      string  `json:"name,omitempty"`
	WorkerID  int64   `json:"worker_id,omitempty"`
	Progress  float64 `json:"progress"`
	Outputs   int     `json:"outputs"`
	Image     string  `json:"image,omitempty"` // the blob hash
	ImageName string  `json:"image_name,omitempty"`
}

// maxLiveChildren bounds the children of a watched job whose running units are followed (the job
// page lists as many).
const maxLiveChildren = 200

// newUnitLive reads a running unit's live view.
func newUnitLive(u store.Unit) unitLive {
	v := unitLive{ID: u.ID, JobID: u.JobID, Name: u.Name, WorkerID: u.WorkerID, Progress: u.Progress}
	var outs map[string]struct {
		Hash string `json:"hash"`
	}
	if len(u.Outputs) > 0 && json.Unmarshal(u.Outputs, &outs) == nil {
		v.Outputs = len(outs)
		names := make([]string, 0, len(outs))
		for n := range outs {
			names = append(names, n)
		}
		if n := unitspec.LiveImage(names); n != "" {
			v.Image, v.ImageName = outs[n].Hash, n
		}
	}
	return v
}

// stepJobs sends the watched jobs whose status, unit counts or running units (their own and their
// children's: progress, outputs, live image) changed.
func (h *hub) stepJobs(ctx context.Context, f *follower, subs []*subscriber, send func(string, any, func(*subscriber) bool)) error {
	var ids []int64
	for _, s := range subs {
		if s.job != 0 && !slices.Contains(ids, s.job) {
			ids = append(ids, s.job)
		}
	}
	for id := range f.jobs {
		if !slices.Contains(ids, id) {
			delete(f.jobs, id)
			delete(f.current, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	counts, err := h.st.UnitCounts(ctx, ids)
	if err != nil {
		return fmt.Errorf("watched jobs' units: %w", err)
	}
	children, _, err := h.st.ListJobs(ctx, store.JobFilter{ParentIDs: ids, Limit: maxLiveChildren * len(ids)})
	if err != nil {
		return fmt.Errorf("watched jobs' children: %w", err)
	}
	unitJobs := slices.Clone(ids)
	for _, c := range children {
		unitJobs = append(unitJobs, c.ID)
	}
	running, _, err := h.st.ListUnits(ctx, store.UnitFilter{JobIDs: unitJobs, Statuses: []store.UnitStatus{store.UnitRunning}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("watched jobs' running units: %w", err)
	}
	for _, id := range ids {
		j, err := h.st.GetJob(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("watched job %d: %w", id, err)
		}
		v := jobLive{ID: id, Status: j.Status, PauseReason: j.PauseReason, Units: map[string]int{}, Running: []unitLive{}}
		for st, n := range counts[id] {
			v.Units[string(st)] = n
		}
		// Its own units and its children's, a child of another account never (tenancy).
		mine := map[int64]bool{id: true}
		for _, c := range children {
			if c.ParentID == id && c.AccountID == j.AccountID {
				mine[c.ID] = true
			}
		}
		for _, u := range running {
			if mine[u.JobID] {
				v.Running = append(v.Running, newUnitLive(u))
			}
		}
		f.current[id] = v
		b, _ := json.Marshal(v)
		if f.jobs[id] == string(b) {
			continue
		}
		_, known := f.jobs[id]
		f.jobs[id] = string(b)
		if known {
			send("job", v, func(s *subscriber) bool { return s.job == id && s.primed })
		}
	}
	return nil
}

// handleLive serves one page's stream. ?job=ID follows a job (one the caller may see: another
// account's answers 404 like everywhere else), ?overview=1 the overview's counts.
func (c *Console) handleLive(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if err != nil {
		facade.Fail(w, r, c.log, err)
		return
	}
	sub := &subscriber{ch: make(chan message, 256), gone: make(chan struct{}), overview: r.URL.Query().Get("overview") == "1"}
	if s.account.Role != store.RoleAdmin {
		sub.scope = s.account.ID
	}
	if v := r.URL.Query().Get("job"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			facade.JSONError(w, http.StatusNotFound, "not found")
			return
		}
		j, err := c.cfg.Store.GetJob(r.Context(), id)
		if err == nil && !sub.sees(j.AccountID) {
			err = store.ErrNotFound
		}
		if err != nil {
			facade.Fail(w, r, c.log, err)
			return
		}
		sub.job = id
	}
	if err := c.live.subscribe(sub); err != nil {
		facade.JSONError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer c.live.unsubscribe(sub)

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: hello\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	keepAlive := time.NewTicker(20 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case m := <-sub.ch:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data)
		case <-keepAlive.C:
			// A session revoked (signed out elsewhere) or expired ends its streams.
			if _, err := auth.VerifyToken(r.Context(), c.cfg.Store, store.CredAdmin, s.token, c.cfg.Engine.Now()); err != nil {
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-sub.gone:
			return
		case <-r.Context().Done():
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
