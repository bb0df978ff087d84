package podman

import (
	"context"
	"errors"
	"testing"
)

// The service's info is read once per process, but a failed read (the
// service not up yet) is tried again by the next caller.
func TestLazyCachesSuccessOnly(t *testing.T) {
	var l lazy[int]
	calls := 0
	compute := func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("not up yet")
		}
		return calls, nil
	}
	ctx := context.Background()
	if _, err := l.get(ctx, compute); err == nil {
		t.Fatal("first call: no error")
	}
	for range 3 {
		if v, err := l.get(ctx, compute); err != nil || v != 2 {
			t.Fatalf("get: %d, %v; want the second computation's 2", v, err)
		}
	}
	if calls != 2 {
		t.Errorf("computed %d times, want 2", calls)
	}
}
