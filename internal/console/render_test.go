package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/blendertest"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// TestThumbnailsAppearAsBlenderRenders opens a render job's page before any frame is rendered,
// starts a render node (the agent with its Blender executor, rendering progress images), and watches
// the first frame's progress image show while it renders (its many samples make it long) and the
// frames' thumbnails appear, without a reload; a thumbnail opens its frame full size.
func TestThumbnailsAppearAsBlenderRenders(t *testing.T) {
	blendertest.Require(t)
	ctx := context.Background()
	const frames = 3
	scenePath, err := blendertest.Scene(ctx, t.TempDir(), blendertest.Options{Width: 160, Height: 120, Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, sqlite.OpenTest(t))
	scene := putScene(t, s, scenePath)
	var units []engine.UnitSpec
	for frame := 1; frame <= frames; frame++ {
		samples := 8
		if frame == 1 {
			samples = 256
		}
		spec, _ := json.Marshal(map[string]any{"scene": scene, "frame": frame, "format": "PNG", "samples": samples})
		units = append(units, engine.UnitSpec{Name: fmt.Sprintf("frame %d", frame), Capability: "blender", Spec: spec})
	}
	job, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "render", Name: "cube.blend", Units: units})
	if err != nil {
		t.Fatal(err)
	}

	b := browser(t)
	watchJob(t, s, b, job.ID)
	startRenderNode(t, s)

	do(t, b, "frame 1's progress image shows while it renders",
		chromedp.WaitVisible(chromedp.CSS(`#rendering-now figure[data-image="progress"] img`)),
		chromedp.ScrollIntoView(chromedp.ID("rendering-now")))
	screenshot(t, b, "render-progress")
	do(t, b, "thumbnails appear",
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#thumbs figure:nth-child(%d) img`, frames))),
		chromedp.WaitVisible(chromedp.CSS(`h1 .badge[data-status="succeeded"]`)))
	if kept := get(t, b, "the marker", chromedp.Evaluate[int](`window.__noReload || 0`)); kept != 1 {
		t.Fatal("the page was reloaded")
	}
	// Frame 1's progress image was shown while it rendered, then its thumbnail.
	us, _, err := s.st.ListUnits(ctx, store.UnitFilter{JobID: job.ID})
	if err != nil {
		t.Fatal(err)
	}
	var outs map[string]struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(us[0].Outputs, &outs); err != nil || outs["progress"].Hash == "" {
		t.Fatalf("frame 1 has no progress image: %s (%v)", us[0].Outputs, err)
	}
	seen := get(t, b, "the live images shown", chromedp.Evaluate[[]string](`window.__live`))
	want := "progress " + s.srv.URL + "/api/v1/blobs/" + outs["progress"].Hash
	if !slices.Contains(seen, want) {
		t.Fatalf("the page showed %q, never frame 1's progress image %q", seen, want)
	}
	// Every thumbnail is a decoded image, not a broken link.
	loaded := get(t, b, "thumbnails decoded", chromedp.Evaluate[int](`(async () => {
		const imgs = [...document.querySelectorAll('#thumbs img')];
		await Promise.all(imgs.map((i) => i.decode()));
		return imgs.filter((i) => i.naturalWidth > 0).length;
	})()`, chromedp.EvalAwaitPromise))
	if loaded != frames {
		t.Fatalf("%d of %d thumbnails decode", loaded, frames)
	}
	screenshot(t, b, "render-frames")
	do(t, b, "open a frame full size",
		chromedp.Click(chromedp.CSS(`#thumbs figure img`)),
		chromedp.WaitVisible(chromedp.CSS(`#full-frame img`)))
	width := get(t, b, "the frame's size", chromedp.Evaluate[int](`(async () => { const i = document.querySelector('#full-frame img'); await i.decode(); return i.naturalWidth; })()`, chromedp.EvalAwaitPromise))
	if width != 160 {
		t.Fatalf("the full frame is %d pixels wide, want 160", width)
	}
}

// TestRenderTaskShowsItsChildrensFrames opens a render task's page (its frames run in a child job)
// and sees the child's frame render live: its progress image, then its thumbnail, without a reload.
func TestRenderTaskShowsItsChildrensFrames(t *testing.T) {
	blendertest.Require(t)
	ctx := context.Background()
	scenePath, err := blendertest.Scene(ctx, t.TempDir(), blendertest.Options{Width: 160, Height: 120})
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, sqlite.OpenTest(t))
	scene := putScene(t, s, scenePath)
	// The task's own unit stands for its scene analysis, held so that the task stays open.
	task, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "render.task", Name: "cube.blend",
		Units: []engine.UnitSpec{{Name: "analysis", Capability: "held-analysis"}}})
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(map[string]any{"scene": scene, "frame": 1, "format": "PNG", "samples": 256})
	if _, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "render", Name: "cube.blend: frames", ParentID: task.ID,
		Units: []engine.UnitSpec{{Name: "1", Capability: "blender", Spec: spec}}}); err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	watchJob(t, s, b, task.ID)
	startRenderNode(t, s)
	do(t, b, "the child's frame shows its progress image, then its thumbnail",
		chromedp.WaitVisible(chromedp.CSS(`#rendering-now figure[data-image="progress"] img`)),
		chromedp.WaitVisible(chromedp.CSS(`#thumbs figure img`)))
	if kept := get(t, b, "the marker", chromedp.Evaluate[int](`window.__noReload || 0`)); kept != 1 {
		t.Fatal("the page was reloaded")
	}
}

// putScene stores the .blend at path as a blob account 1 may use, and returns its hash.
func putScene(t *testing.T, s *stack, path string) string {
	t.Helper()
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scene, err := s.blobs.Put(ctx, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.AddBlobRefs(ctx, 1, []string{scene.Hash}, s.eng.Now()); err != nil {
		t.Fatal(err)
	}
	return scene.Hash
}

// watchJob signs in as the admin and opens the job's page before anything of it renders, marking
// the page (window.__noReload) and recording every image its "Rendering now" view shows
// (window.__live: "<output name> <src>").
func watchJob(t *testing.T, s *stack, b context.Context, jobID int64) {
	t.Helper()
	do(t, b, "open the job before it renders",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.SendKeys(chromedp.ID("token"), s.creds.AdminToken),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("signout")),
		chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", s.srv.URL, jobID)),
		chromedp.WaitVisible(chromedp.ID("no-thumbs")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[int](`window.__noReload = 1; window.__live = [];
				new MutationObserver(() => document.querySelectorAll('#rendering-now figure').forEach((f) => {
					const seen = f.dataset.image + ' ' + f.querySelector('img').src;
					if (!window.__live.includes(seen)) window.__live.push(seen);
				})).observe(document.body, { subtree: true, childList: true, attributes: true });
				1`)(ctx, tg)
			return err
		}))
}

// startRenderNode runs a render node (the agent with its Blender executor) until the test ends; it
// renders progress images even of the test's small frames.
func startRenderNode(t *testing.T, s *stack) {
	t.Helper()
	actx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ex := executor.Defaults()
		ex["blender"] = &executor.Blender{Preview: executor.BlenderPreview{MinWork: 1}}
		agent.Run(actx, agent.Config{ServerURL: s.srv.URL, Token: s.creds.AgentToken, Name: "render-node", WorkDir: t.TempDir(),
			Executors: ex, LeaseWaitSeconds: 1}, quietLogger())
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
}
