package engine

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// forEach runs fn for every item at once and returns the first error; the
// context given to fn is cancelled as soon as one call fails. Node work fans
// out through here rather than through ad-hoc WaitGroups.
func forEach[T any](ctx context.Context, items []T, fn func(ctx context.Context, item T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, it := range items {
		g.Go(func() error { return fn(gctx, it) })
	}
	return g.Wait()
}

// forEachAll runs fn for every item at once and waits for all of them even
// when some fail (cleanup must not stop at the first error); it returns the
// first error.
func forEachAll[T any](ctx context.Context, items []T, fn func(ctx context.Context, item T) error) error {
	var g errgroup.Group
	for _, it := range items {
		g.Go(func() error { return fn(ctx, it) })
	}
	return g.Wait()
}
