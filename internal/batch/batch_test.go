package batch

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestGroup runs many concurrent calls through groups of several batch sizes: every call gets its
// own item's answer, no batch is larger than the size, and a failed batch fails each of its calls.
func TestGroup(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		callers int
		fail    bool
	}{
		{"one caller", 8, 1, false},
		{"batches of one", 1, 50, false},
		{"many callers", 16, 200, false},
		{"size below one is one", 0, 20, false},
		{"failing batches", 8, 40, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var batches, items atomic.Int64
			var largest atomic.Int64
			g := New(tc.size, func(_ context.Context, in []int) ([]int, error) {
				batches.Add(1)
				items.Add(int64(len(in)))
				for n := int64(len(in)); ; {
					l := largest.Load()
					if n <= l || largest.CompareAndSwap(l, n) {
						break
					}
				}
				if tc.fail {
					return nil, errors.New("write failed")
				}
				out := make([]int, len(in))
				for i, v := range in {
					out[i] = v * 2
				}
				return out, nil
			})
			var wg sync.WaitGroup
			for i := range tc.callers {
				wg.Go(func() {
					got, err := g.Do(context.Background(), i)
					switch {
					case tc.fail && err == nil:
						t.Errorf("call %d: no error from a failed batch", i)
					case !tc.fail && (err != nil || got != 2*i):
						t.Errorf("call %d: %d, %v; want %d", i, got, err, 2*i)
					}
				})
			}
			wg.Wait()
			if items.Load() != int64(tc.callers) {
				t.Errorf("%d items written, want %d", items.Load(), tc.callers)
			}
			if max := int64(max(tc.size, 1)); largest.Load() > max {
				t.Errorf("a batch of %d items, size is %d", largest.Load(), max)
			}
			if g.running || len(g.queue) != 0 {
				t.Errorf("group left running=%v with %d queued", g.running, len(g.queue))
			}
		})
	}
}

// TestGroupBatchesWhileWriting holds the first write until more calls queue, and checks that those
// calls are written together in the next batch.
func TestGroupBatchesWhileWriting(t *testing.T) {
	release := make(chan struct{})
	var sizes []int
	var mu sync.Mutex
	g := New(100, func(_ context.Context, in []int) ([]int, error) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(in))
		mu.Unlock()
		if first {
			<-release
		}
		return in, nil
	})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = g.Do(context.Background(), 0) })
	for { // wait until the first call is writing
		mu.Lock()
		started := len(sizes) == 1
		mu.Unlock()
		if started {
			break
		}
		runtime.Gosched()
	}
	for i := 1; i <= 10; i++ {
		wg.Go(func() { _, _ = g.Do(context.Background(), i) })
	}
	for { // wait until all ten are queued behind it
		g.mu.Lock()
		queued := len(g.queue)
		g.mu.Unlock()
		if queued == 10 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != 10 {
		t.Fatalf("batch sizes %v, want [1 10]", sizes)
	}
}

// TestGroupSurvivesPanic checks that a write that panics fails its batch's calls, panics in the
// caller that ran it, and leaves the group working.
func TestGroupSurvivesPanic(t *testing.T) {
	calls := 0
	g := New(8, func(_ context.Context, in []int) ([]int, error) {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return in, nil
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the leading caller did not see the panic")
			}
		}()
		_, _ = g.Do(context.Background(), 1)
	}()
	if got, err := g.Do(context.Background(), 2); err != nil || got != 2 {
		t.Fatalf("after a panic: %d, %v", got, err)
	}
}
