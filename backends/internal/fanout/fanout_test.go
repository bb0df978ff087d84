package fanout

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Results keep the list's order, items gone since the list are left out,
// and no more than Limit calls run at once.
func TestMapKeepsOrderAndSkipsGone(t *testing.T) {
	items := make([]int, 40)
	for i := range items {
		items[i] = i
	}
	var running, peak atomic.Int32
	got, err := Map(context.Background(), items, func(_ context.Context, i int) (int, bool, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(40-i) * 100 * time.Microsecond)
		running.Add(-1)
		return i * 10, i%3 != 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := range items {
		if i%3 != 0 {
			want = append(want, i*10)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Map = %v, want %v", got, want)
	}
	if p := peak.Load(); p > Limit || p < 2 {
		t.Errorf("%d calls ran at once, want between 2 and %d", p, Limit)
	}
}

// The first error is returned and the calls not yet begun are not made.
func TestMapStopsAtFirstError(t *testing.T) {
	boom := errors.New("inspect x: boom")
	var calls atomic.Int32
	_, err := Map(context.Background(), make([]int, 100), func(ctx context.Context, _ int) (int, bool, error) {
		calls.Add(1)
		return 0, false, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Map error = %v, want %v", err, boom)
	}
	if n := calls.Load(); n > Limit {
		t.Errorf("%d calls were made, want at most the %d already under way when the first failed", n, Limit)
	}
}

// A cancelled caller gets its context's error, never a short list.
func TestMapCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := Map(ctx, []int{1, 2, 3}, func(context.Context, int) (int, bool, error) { return 1, true, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Map on a cancelled context = %v, %v; want context.Canceled", got, err)
	}
}
