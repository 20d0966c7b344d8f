package blobsweep_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/blob"
	"taskcenter/internal/blobsweep"
	"taskcenter/internal/store/storetest/drivers"
)

// BenchmarkSweep measures one sweep over a local blob store of 5,000 blobs older than the grace
// period, on both store drivers: "referenced" is the steady state (every blob listed and looked up,
// none deleted), "unreferenced" deletes them all (each re-checked and quarantined first). The
// blobs are made again outside the timer for each iteration.
func BenchmarkSweep(b *testing.B) {
	const n = 5000
	for _, d := range drivers.All() {
		for _, referenced := range []bool{true, false} {
			name := d.Name + "/unreferenced"
			if referenced {
				name = d.Name + "/referenced"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				st := d.Open(b)
				blobs, err := blob.NewLocal(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				sw, err := blobsweep.New(blobsweep.Config{Store: st, Blobs: blobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				hashes := make([]string, n)
				fill := func() {
					for i := range hashes {
						ref, err := blobs.Put(ctx, strings.NewReader(fmt.Sprintf("blob %d", i)), 0)
						if err != nil {
							b.Fatal(err)
						}
						hashes[i] = ref.Hash
					}
				}
				fill()
				if referenced {
					if err := st.AddBlobRefs(ctx, 1, hashes, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				later := time.Now().Add(2 * blobsweep.DefaultGrace)
				b.ResetTimer()
				for range b.N {
					res, err := sw.Run(ctx, later)
					if err != nil || res.Blobs != n {
						b.Fatalf("Run = %+v, %v", res, err)
					}
					if !referenced {
						b.StopTimer()
						fill()
						b.StartTimer()
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/blob")
			})
		}
	}
}
