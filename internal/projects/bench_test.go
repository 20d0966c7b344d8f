package projects

import (
	"fmt"
	"testing"

	"taskcenter/internal/store/storetest/drivers"
)

// BenchmarkTriggerToPublished measures, per iteration, a trigger over HTTP until the publish of a
// 1,000-output template whose configuration change touched 10 outputs has committed (the webhook
// that follows the commit is the signal). The definition change before each trigger is not timed.
func BenchmarkTriggerToPublished(b *testing.B) {
	for _, d := range drivers.All() {
		b.Run(d.Name, func(b *testing.B) {
			e := newEnv(b, d.Open(b), blobDrivers()[0].open(b))
			const n, groups = 1000, 100
			e.native("PUT", "/api/v1/projects/template-projects/big-template", map[string]any{"template_center": true, "webhook": e.hooks.srv.URL,
				"templates": map[string]any{"pages": map[string]any{"files": manyFiles(n, groups), "config": manyConfig(groups, -1)}}}, 200)
			e.kms.call(b, "POST", "/service/createExtendedProject", map[string]any{"from": "big-template", "id": "gx", "name": "Big"}).ok(b)
			const id = "gx-big.pages"
			e.kms.call(b, "GET", "/service/trigger/template/"+id, nil).ok(b)
			<-e.hooks.got
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				config := manyConfig(groups, -1)
				config["v7"] = fmt.Sprintf("changed %d", i)
				e.native("PUT", "/api/v1/projects/template-projects/big-template/templates/pages",
					map[string]any{"files": manyFiles(n, groups), "config": config}, 200)
				b.StartTimer()
				e.kms.call(b, "GET", "/service/trigger/template/"+id, nil).ok(b)
				ev := <-e.hooks.got
				if ev.Status != "completed" || ev.Result == nil || ev.Result.Uploaded != 10 {
					b.Fatalf("publish %+v", ev)
				}
			}
		})
	}
}
