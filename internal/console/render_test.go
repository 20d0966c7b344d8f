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
	f, err := os.Open(scenePath)
	if err != nil {
		t.Fatal(err)
	}
	scene, err := s.blobs.Put(ctx, f, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.AddBlobRefs(ctx, 1, []string{scene.Hash}, s.eng.Now()); err != nil {
		t.Fatal(err)
	}
	var units []engine.UnitSpec
	for frame := 1; frame <= frames; frame++ {
		samples := 8
		if frame == 1 {
			samples = 256
		}
		spec, _ := json.Marshal(map[string]any{"scene": scene.Hash, "frame": frame, "format": "PNG", "samples": samples})
		units = append(units, engine.UnitSpec{Name: fmt.Sprintf("frame %d", frame), Capability: "blender", Spec: spec})
	}
	job, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "render", Name: "cube.blend", Units: units})
	if err != nil {
		t.Fatal(err)
	}

	b := browser(t)
	do(t, b, "open the job before it renders",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.SendKeys(chromedp.ID("token"), s.creds.AdminToken),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("signout")),
		chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", s.srv.URL, job.ID)),
		chromedp.WaitVisible(chromedp.ID("no-thumbs")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			// Every image the "Rendering now" view shows, as it shows it.
			_, err := chromedp.Evaluate[int](`window.__noReload = 1; window.__live = [];
				new MutationObserver(() => document.querySelectorAll('#rendering-now figure').forEach((f) => {
					const seen = f.dataset.image + ' ' + f.querySelector('img').src;
					if (!window.__live.includes(seen)) window.__live.push(seen);
				})).observe(document.body, { subtree: true, childList: true, attributes: true });
				1`)(ctx, tg)
			return err
		}))

	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ex := executor.Defaults()
		ex["blender"] = &executor.Blender{Preview: executor.BlenderPreview{MinWork: 1}} // previews of the small test frames
		agent.Run(actx, agent.Config{ServerURL: s.srv.URL, Token: s.creds.AgentToken, Name: "render-node", WorkDir: t.TempDir(),
			Executors: ex, LeaseWaitSeconds: 1}, quietLogger())
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})

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
