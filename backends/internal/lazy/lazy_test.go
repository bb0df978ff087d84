package lazy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLazy(t *testing.T) {
	var l Value[int]
	var calls atomic.Int32
	release := make(chan struct{})
	compute := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 42, nil
	}

	// Concurrent callers share one computation.
	var wg sync.WaitGroup
	results := make([]int, 5)
	for i := range results {
		wg.Go(func() { results[i], _ = l.Get(context.Background(), compute) })
	}
	// A caller whose context ends stops waiting, without an answer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for calls.Load() == 0 {
		// wait until one computation is in flight
	}
	if _, err := l.Get(ctx, compute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter got %v", err)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("computed %d times, want once", calls.Load())
	}
	for _, r := range results {
		if r != 42 {
			t.Errorf("results = %v", results)
		}
	}

	// A failure is not cached.
	var f Value[int]
	if _, err := f.Get(context.Background(), func(context.Context) (int, error) { return 0, errors.New("boom") }); err == nil {
		t.Fatal("no error")
	}
	if _, ok := f.Peek(); ok {
		t.Error("a failed computation was cached")
	}
	if v, err := f.Get(context.Background(), func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Errorf("retry = %d, %v", v, err)
	}
}
