package console_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestJobsPagesByKey pages the jobs page older and back newer in headless Chromium on each driver:
// each step shows the right jobs and position, and asks the native API for the page by key
// (before_id, after_id) rather than by offset.
func TestJobsPagesByKey(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		s := startStack(t, open(t))
		var ids []int64 // newest first
		for i := range 120 {
			j, err := s.st.CreateJob(ctx, store.Job{AccountID: 1, Kind: "batch", Name: fmt.Sprintf("paged %03d", i), MaxAttempts: 1},
				[]store.Unit{{Capability: "shell"}}, s.eng.Now())
			if err != nil {
				t.Fatal(err)
			}
			ids = append([]int64{j.ID}, ids...)
		}
		b := browser(t)
		do(t, b, "sign in",
			chromedp.Navigate(s.srv.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), s.creds.AdminToken),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("signout")))
		row := func(i int) chromedp.Action[chromedp.Void] {
			return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#jobs-table tr[data-job="%d"]`, ids[i])))
		}
		do(t, b, "the first page", chromedp.Click(chromedp.CSS(`a[href="/jobs"]`)), row(0), row(49))
		for _, step := range []struct {
			button, want, param string
			first, last         int
		}{
			{"jobs-older", "51–100 of 120", "before_id=" + fmt.Sprint(ids[49]), 50, 99},
			{"jobs-older", "101–120 of 120", "before_id=" + fmt.Sprint(ids[99]), 100, 119},
			{"jobs-newer", "51–100 of 120", "after_id=" + fmt.Sprint(ids[100]), 50, 99},
			{"jobs-newer", "1–50 of 120", "", 0, 49},
		} {
			// The page's own reloads (live events) ask by offset; the step's request is among those
			// made since the click.
			const asked = `performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/api/v1/jobs?'))`
			before := get(t, b, "the requests so far", chromedp.Evaluate[int](asked+`.length`))
			do(t, b, step.button+" to "+step.want, chromedp.Click(chromedp.ID(step.button)), row(step.first), row(step.last),
				chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`#jobs-table tr[data-job="%d"]`, ids[(step.last+1)%len(ids)]))))
			if got := get(t, b, "the position", chromedp.Text(chromedp.ID("jobs-total"))); got != step.want {
				t.Errorf("after %s: position %q, want %q", step.button, got, step.want)
			}
			since := get(t, b, "the requests since", chromedp.Evaluate[[]string](asked+fmt.Sprintf(`.slice(%d)`, before)))
			if step.param != "" && !slices.ContainsFunc(since, func(u string) bool {
				return strings.Contains(u, step.param) && !strings.Contains(u, "offset=")
			}) {
				t.Errorf("after %s: asked %v, want a page by %s", step.button, since, step.param)
			}
		}
	})
}
