package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/k3d/k3d/backends"
)

// pullImage fetches a node image the runtime lacks, showing its bytes as
// they arrive. It runs before a create makes anything, so that a failed
// pull leaves nothing behind; an image that is present is never pulled, so
// air-gapped hosts keep working with images they loaded themselves.
func (e *Engine) pullImage(ctx context.Context, ref string) error {
	info, err := e.Info(ctx)
	if err != nil {
		return err
	}
	t := e.startTransfer(fmt.Sprintf("Pulling image %s into %s", ref, info.Name), 0, 0)
	err = e.rt.ImagePull(ctx, ref, backends.PullOptions{Progress: func(p backends.PullProgress) {
		t.set(p.Done, p.Total)
	}})
	t.done(err)
	if err != nil {
		return pullError(info.Name, ref, err)
	}
	e.mu.Lock()
	e.images[ref] = true
	e.mu.Unlock()
	return nil
}

// pullError says why a node image could not be had and how to get it
// without a registry; the runtime's error stays wrapped for errors.Is.
func pullError(runtime, ref string, err error) error {
	how := howToGetImage(runtime, ref)
	switch {
	case ctxDone(err):
		return fmt.Errorf("pull image %s: %w", ref, err)
	case backends.IsUnreachable(err):
		return fmt.Errorf("image %s is not in %s and its registry could not be reached (%w): %s", ref, runtime, err, how)
	case backends.IsNotFound(err):
		return fmt.Errorf("image %s is not in %s and its registry does not have it (%w): check the name, or %s", ref, runtime, err, how)
	}
	return fmt.Errorf("image %s is not in %s and pulling it failed (%w): %s", ref, runtime, err, how)
}

func ctxDone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
