package backends_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

func TestPullProgressArrivesInOrder(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		const steps = 200
		var got []backends.PullProgress
		err := c.ImagePull(context.Background(), "progress:200", backends.PullOptions{
			Progress: func(p backends.PullProgress) { got = append(got, p) },
		})
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		var want []backends.PullProgress
		for i := int64(1); i <= steps; i++ {
			status := "Downloading"
			if i == steps {
				status = "Complete"
			}
			want = append(want, backends.PullProgress{Done: 100 * i, Total: 100 * steps, Status: status})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("progress arrived as %d events, first %v, last %v; want %d in order", len(got), first(got), last(got), steps)
		}
	})
}

func TestPullWithoutProgressCallback(t *testing.T) {
	c := backends.ConnectInProcess(t, testbackend.New())
	if err := c.ImagePull(context.Background(), "progress:3", backends.PullOptions{}); err != nil {
		t.Errorf("pull without a progress callback: %v", err)
	}
}

func TestAPullErrorComesAfterItsProgress(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		var events int
		err := c.ImagePull(context.Background(), "fail-unreachable", backends.PullOptions{
			Progress: func(backends.PullProgress) { events++ },
		})
		var ue *backends.UnreachableError
		if !errors.As(err, &ue) || ue.Endpoint != "unix:///run/fake.sock" {
			t.Errorf("got %v (%T), want the backend's *UnreachableError", err, err)
		}
		if events != 1 {
			t.Errorf("%d progress events before the error, want 1", events)
		}
		err = c.ImagePull(context.Background(), "unknown:1", backends.PullOptions{})
		if !backends.IsNotFound(err) || !strings.Contains(err.Error(), `image "unknown:1"`) {
			t.Errorf("pull of an unknown image: got %v, want ErrNotFound naming it", err)
		}
	})
}

func TestImageInspectOfAMissingImageIsNotFound(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		_, err := c.ImageInspect(context.Background(), "absent:1")
		if !backends.IsNotFound(err) || !strings.Contains(err.Error(), `image "absent:1"`) {
			t.Errorf("got %v, want ErrNotFound naming the image", err)
		}
	})
}

func TestCancellingAPullStopsIt(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, f *testbackend.Fake) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		// The fake reports one step, then waits: cancel once it arrived, so
		// the pull is known to be under way on the backend's side.
		err := c.ImagePull(ctx, "block", backends.PullOptions{Progress: func(backends.PullProgress) { cancel() }})
		if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "pull image block: ") {
			t.Errorf("got %v, want context.Canceled saying what was done", err)
		}
		if time.Since(start) > prompt {
			t.Errorf("took %v", time.Since(start))
		}
		if f != nil {
			waitEvent(t, f, "image pull: context done")
		}
		// The backend is still usable.
		if err := c.ImagePull(context.Background(), "progress:1", backends.PullOptions{}); err != nil {
			t.Errorf("pull after a cancelled pull: %v", err)
		}
	})
}

func first(ps []backends.PullProgress) any {
	if len(ps) == 0 {
		return nil
	}
	return ps[0]
}

func last(ps []backends.PullProgress) any {
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1]
}
