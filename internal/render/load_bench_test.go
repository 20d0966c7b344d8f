package render

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/gctune"
	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/unitspec"
)

// Load benchmark of the signed API over loopback HTTP, on a store holding (by default) 100,000 tasks
// of 10 frames each (1,000,000 frames) spread over 100 accounts. Run it with, e.g.:
//
//	go test ./internal/render/ -run '^$' -bench BenchmarkRenderAPILoad -benchtime 10s
//
// RENDER_BENCH_TASKS changes the number of tasks (frames are 10 per task); RENDER_BENCH_PROFILE=DIR
// writes a CPU profile of each sub-benchmark's requests into DIR. Each sub-benchmark reports
// req/s, p99-ms and cpu-ms/req (CPU of the whole process, clients included) over its requests;
// concurrency is 8 clients per GOMAXPROCS (RunParallel). PostgreSQL's own CPU is not in cpu-ms/req.
func BenchmarkRenderAPILoad(b *testing.B) {
	tasks := 100_000
	if v := os.Getenv("RENDER_BENCH_TASKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("RENDER_BENCH_TASKS=%q: want an integer >= 100", v)
		}
		tasks = n
	}
	// The collector as the server runs it (taskcenter serve), unless GOGC says otherwise.
	if prev, applied := gctune.Apply(os.Getenv); applied {
		defer debug.SetGCPercent(prev)
		b.Logf("GOGC=%d, the server's default", gctune.ServerPercent)
	}
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) { benchLoad(b, d.Open, tasks) })
	}
}

const (
	benchAccounts       = 100
	benchFramesPerTask  = 10
	benchTasksPerCommit = 500
)

type benchAccount struct {
	id    int64
	cl    *Client
	tasks []int64
}

func benchLoad(b *testing.B, open func(testing.TB) store.Store, tasks int) {
	ctx := context.Background()
	st := open(b)
	eng := engine.New(st, engine.Config{}, testLog(), nil)
	blobs, err := blob.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	keys, err := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	api, err := New(Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: testLog(), PublicURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer api.Close()
	api.Mount(mux)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

	start := time.Now()
	accts := make([]*benchAccount, benchAccounts)
	for i := range accts {
		a, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("studio-%d", i), Role: store.RoleUser})
		if err != nil {
			b.Fatal(err)
		}
		id, key, err := CreateAccessKey(ctx, st, keys, a.ID)
		if err != nil {
			b.Fatal(err)
		}
		accts[i] = &benchAccount{id: a.ID, cl: &Client{BaseURL: srv.URL, AccessID: id, AccessKey: key, HTTP: hc}}
	}
	if err := seedTasks(ctx, st, accts, tasks); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d tasks, %d frames in %v", st.Driver(), tasks, tasks*benchFramesPerTask, time.Since(start).Round(time.Second))
	// What the engine's sweep does every second on a running server.
	if err := st.FoldJobTallies(ctx); err != nil {
		b.Fatal(err)
	}
	if pg, ok := st.(*postgres.Store); ok {
		// What autovacuum does soon after a bulk load on any default install (this machine's test
		// server runs with it off): statistics for the planner and a visibility map for index-only
		// scans, and the dead rows the tally's fold left removed.
		if _, err := pg.Pool().Exec(ctx, "VACUUM ANALYZE jobs, units, job_tallies, job_tally_changes"); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("getTaskList", func(b *testing.B) {
		benchRequests(b, accts, func(r *rand.Rand, a *benchAccount) (string, any) {
			pages := max(len(a.tasks)/10, 1)
			return "/api/render/task/getTaskList", map[string]any{"pageNum": 1 + r.IntN(pages), "pageSize": 10}
		})
	})
	b.Run("queryTaskInfo", func(b *testing.B) {
		benchRequests(b, accts, func(r *rand.Rand, a *benchAccount) (string, any) {
			return "/api/render/task/queryTaskInfo", map[string]any{"taskIds": []int64{a.tasks[r.IntN(len(a.tasks))]}}
		})
	})
	b.Run("getTaskList-statusList", func(b *testing.B) {
		benchRequests(b, accts, func(r *rand.Rand, a *benchAccount) (string, any) {
			return "/api/render/task/getTaskList", map[string]any{"pageNum": 1 + r.IntN(5), "pageSize": 10, "statusList": []int{StatusWaiting, StatusRendering}}
		})
	})
}

// seedTasks writes the tasks as submitTask would have left them (a parent, a child with one unit per
// frame), in transactions of benchTasksPerCommit tasks through the store's own CreateJob.
func seedTasks(ctx context.Context, st store.Store, accts []*benchAccount, tasks int) error {
	frames := make([]int, benchFramesPerTask)
	for i := range frames {
		frames[i] = i + 1
	}
	var mu sync.Mutex
	batch := func(from, to int) error {
		return st.InTx(ctx, func(tx store.Store) error {
			now := time.Now()
			for n := from; n < to; n++ {
				ai := n % len(accts)
				name := fmt.Sprintf("shot%06d.blend", n)
				shell, err := tx.CreateJob(ctx, store.Job{AccountID: accts[ai].id, Kind: KindTask, Name: name,
					Project: fmt.Sprintf("project-%d", n%7), MaxAttempts: 1,
					Spec: mustJSON(taskState{State: stateSubmitted, Platform: 2, SceneName: name, CgID: 2007, Camera: "Camera",
						Width: 1920, Height: 1080, Tiles: 1, Frames: FormatFrames(frames), SubmittedAt: now.UnixMilli()})}, nil, now)
				if err != nil {
					return fmt.Errorf("seed task %d: %w", n, err)
				}
				units := make([]store.Unit, len(frames))
				for i, f := range frames {
					units[i] = store.Unit{Index: i, Name: strconv.Itoa(f), Capability: "blender",
						Spec: mustJSON(unitspec.Blender{Scene: "0000", Frame: f, Format: "PNG", Resolution: []int{1920, 1080}, Camera: "Camera"})}
				}
				if _, err := tx.CreateJob(ctx, store.Job{AccountID: accts[ai].id, ParentID: shell.ID, Kind: KindRender, Name: name,
					Project: shell.Project, MaxAttempts: 3, BlocklistAfter: 3,
					Spec: mustJSON(childSpec{TaskType: "Render", FrameType: 5, Frames: FormatFrames(frames), Tiles: 1,
						Width: 1920, Height: 1080, Camera: "Camera", Format: "PNG", Scene: "0000", CgID: 2007, Software: "Blender 3.4"})}, units, now); err != nil {
					return fmt.Errorf("seed frames of task %d: %w", n, err)
				}
				mu.Lock()
				accts[ai].tasks = append(accts[ai].tasks, shell.ID)
				mu.Unlock()
			}
			return nil
		})
	}
	// PostgreSQL takes two writers; SQLite has one anyway.
	writers := 1
	if st.Driver() == "postgres" {
		writers = 2
	}
	next := make(chan int)
	errs := make(chan error, writers)
	for range writers {
		go func() {
			for from := range next {
				if err := batch(from, min(from+benchTasksPerCommit, tasks)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var err error
feed:
	for from := 0; from < tasks; from += benchTasksPerCommit {
		select {
		case next <- from:
		case err = <-errs:
			writers--
			break feed
		}
	}
	close(next)
	for range writers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// benchRequests runs signed requests from parallel clients, each on a random account, and reports
// the throughput and the 99th percentile latency.
func benchRequests(b *testing.B, accts []*benchAccount, req func(*rand.Rand, *benchAccount) (string, any)) {
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(8)
	if dir := os.Getenv("RENDER_BENCH_PROFILE"); dir != "" {
		// A CPU profile of the requests alone, without the seeding before them.
		f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		var lat []time.Duration
		for pb.Next() {
			a := accts[r.IntN(len(accts))]
			path, body := req(r, a)
			t0 := time.Now()
			if _, err := a.cl.Call(context.Background(), path, body, nil); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	p99 := all[min(len(all)-1, len(all)*99/100)]
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	// CPU of this process (server and clients) per request: unlike req/s it does not depend on what
	// else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(all)), "cpu-ms/req")
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
